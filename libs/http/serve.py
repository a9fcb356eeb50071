"""Serving aiohttp applications over a NATS connection that may be replaced.

The listeners stay up for the life of the process. Everything a service makes from
its NATS connection (caches and their watches, KV handles, the rate limiter) is its
*context*, made by a ``wire`` function; when the server closes the connection for
good, a fresh connection is made, wired again and swapped into the same context
object (the applications hold it). Meanwhile handlers that need NATS answer ``503``
with ``Retry-After`` and ``/healthz`` fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, Self, TypeVar

from aiohttp import web

from libs.runtime.bus import Bus, ensure_topology
from libs.runtime.config import Settings
from libs.runtime.service import connect_when_available, install_stop_handlers
from libs.runtime.timers import stopped_within

log = logging.getLogger(__name__)


class Rewirable(Protocol):
    """A service's context: its NATS connection and what was made from it."""

    bus: Bus

    def rebind(self, fresh: Self) -> None:
        """Take ``fresh``'s connection and everything made from it, in place."""


C = TypeVar("C", bound=Rewirable)


@dataclass(frozen=True)
class Listener:
    """One application on one address."""

    app: web.Application
    host: str
    port: int
    what: str  # for the log line: "ingress listening on …"


async def serve_rewired(
    name: str, settings: Settings, stop: asyncio.Event | None,
    wire: Callable[[Bus], Awaitable[C]], release: Callable[[C], Awaitable[None]],
    listeners: Callable[[C], list[Listener]], *, reuse_port: bool = False,
) -> None:
    """Serve ``listeners`` until SIGTERM (or ``stop``); in-flight requests finish first."""
    stop = stop or asyncio.Event()
    install_stop_handlers(stop)
    ctx = await _connect_and_wire(name, settings, stop, wire)
    if ctx is None:
        return
    # No access log: tokens may ride in query strings and must never be logged.
    # On SIGTERM the listeners close at once (new connections are refused) and
    # requests in flight get this long to finish their durable publish and answer.
    runners: list[web.AppRunner] = []
    serving = listeners(ctx)
    try:
        for listener in serving:
            runner = web.AppRunner(listener.app, access_log=None, shutdown_timeout=10.0)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, listener.host, listener.port,
                              reuse_port=reuse_port).start()
            log.info("%s listening on http://%s:%d", listener.what, listener.host,
                     listener.port)
        await _rewire_until_stopped(name, settings, stop, ctx, wire, release, serving)
    finally:
        for runner in runners:
            await runner.cleanup()
        await release(ctx)
        log.info("%s stopped", name)


async def _connect_and_wire(
    name: str, settings: Settings, stop: asyncio.Event, wire: Callable[[Bus], Awaitable[C]],
) -> C | None:
    """A fresh connection and everything made from it; None if ``stop`` came first."""
    while not stop.is_set():
        bus = await connect_when_available(settings, name, stop)
        if bus is None:
            return None
        while not bus.closed_for_good:
            try:
                await ensure_topology(bus, settings.dedupe_window_s, settings.nats_replicas,
                                      settings.partitions)
                return await wire(bus)
            except Exception as exc:  # NATS went away while starting: keep trying
                log.warning("%s could not set up yet (%r); retrying", name, exc)
                if await stopped_within(stop, 1.0):
                    break
        await bus.close()
    return None


async def _rewire_until_stopped(
    name: str, settings: Settings, stop: asyncio.Event, ctx: C,
    wire: Callable[[Bus], Awaitable[C]], release: Callable[[C], Awaitable[None]],
    serving: list[Listener],
) -> None:
    """Until ``stop``: whenever the connection is closed for good, make a fresh one
    and swap everything made from it into ``ctx``."""
    while True:
        stopping = asyncio.ensure_future(stop.wait())
        lost = asyncio.ensure_future(ctx.bus.wait_lost())
        try:
            await asyncio.wait([stopping, lost], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (stopping, lost):
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
        if stop.is_set():
            return
        log.warning("%s: making a fresh NATS connection", name)
        fresh = await _connect_and_wire(name, settings, stop, wire)
        if fresh is None:
            return
        old = copy.copy(ctx)
        ctx.rebind(fresh)
        await release(old)
        for listener in serving:  # operators (and tests) watch for this line
            log.info("%s listening on http://%s:%d again with a fresh NATS connection",
                     listener.what, listener.host, listener.port)
