"""Composition root of the ingress service (HTTP).

Two listeners share one context: the public edge (webhook routes and health, on
``TRADEHOOKS_HTTP_HOST``:``TRADEHOOKS_HTTP_PORT``) and the operator side (admin and
read API, metrics, OpenAPI, on ``TRADEHOOKS_OPERATOR_HOST``:
``TRADEHOOKS_OPERATOR_PORT``, loopback by default).

The listeners stay up for the life of the process. Everything made from the NATS
connection (the strategy cache and its watches, KV handles, the rate limiter) is
wired in :func:`_wire`; when the server closes the connection for good, a fresh
connection is made and all of it is wired again and swapped in. Meanwhile webhooks
get ``503`` with ``Retry-After`` (nothing is accepted without a durable publish)
and ``/healthz`` fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from aiohttp import web

from contracts import streams
from libs.registry.api_keys import ApiKeys
from libs.registry.cache import StrategyCache
from libs.registry.store import open_registry
from libs.runtime.bus import Bus, ensure_topology
from libs.runtime.clock import clock_for
from libs.runtime.config import Settings
from libs.runtime.service import connect_when_available, install_stop_handlers
from libs.runtime.timers import stopped_within
from projections.persistence import parse_store_url
from projections.readmodel import ReadModel, open_read_model
from projections.store import EventStore, open_store
from services.ingress.accepted import AcceptedAlerts
from services.ingress.app import build_operator_app, build_public_app
from services.ingress.auth_alerts import AuthFailureAlerts
from services.ingress.client_ip import networks
from services.ingress.context import IngressContext
from services.ingress.ratelimit import RateLimiter, ScopeLimits

log = logging.getLogger(__name__)


async def _wire(settings: Settings, bus: Bus, store: EventStore,
                read_model: ReadModel) -> IngressContext:
    """Everything a request needs, made from one connection."""
    registry = await open_registry(bus, settings)
    strategies = StrategyCache(registry)
    await strategies.start()
    bus.on_reconnected.append(strategies.on_reconnected)
    clock = clock_for(settings.test_clock_file)
    limiter = RateLimiter(await bus.kv(streams.BUCKET_RATE))
    return IngressContext(settings=settings, bus=bus, strategies=strategies,
                          store=store,
                          read_model=read_model, clock=clock,
                          limiter=limiter, scope_limits=ScopeLimits(registry),
                          trusted_proxies=networks(settings.trusted_proxies.split(",")),
                          auth_alerts=AuthFailureAlerts(bus, limiter, clock,
                                                        settings.auth_alert_threshold),
                          api_keys=ApiKeys(await bus.kv(streams.BUCKET_REGISTRY)),
                          accepted=AcceptedAlerts(await bus.kv(streams.BUCKET_ACCEPTED)))


async def _connect_and_wire(settings: Settings, stop: asyncio.Event, store: EventStore,
                            read_model: ReadModel) -> IngressContext | None:
    """A fresh connection and everything made from it; None if ``stop`` came first."""
    while not stop.is_set():
        bus = await connect_when_available(settings, "ingress", stop)
        if bus is None:
            return None
        while not bus.closed_for_good:
            try:
                await ensure_topology(bus, settings.dedupe_window_s, settings.nats_replicas)
                return await _wire(settings, bus, store, read_model)
            except Exception as exc:  # NATS went away while starting: keep trying
                log.warning("ingress could not set up yet (%r); retrying", exc)
                if await stopped_within(stop, 1.0):
                    break
        await bus.close()
    return None


async def _release(ctx: IngressContext) -> None:
    await ctx.strategies.stop()
    await ctx.bus.close()


async def main(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve HTTP until SIGTERM; in-flight requests finish first."""
    stop = stop or asyncio.Event()
    install_stop_handlers(stop)
    read_model = await asyncio.to_thread(open_read_model, parse_store_url(settings.store_url))
    store = await asyncio.to_thread(open_store, settings.store_url)
    ctx = await _connect_and_wire(settings, stop, store, read_model)
    if ctx is None:
        store.close()
        read_model.close()
        return
    # No access log: tokens may ride in query strings and must never be logged.
    # On SIGTERM the listeners close at once (new connections are refused) and
    # requests in flight get this long to finish their durable publish and answer.
    # Several ingress processes may share the ports: the kernel spreads connections.
    shared = settings.http_workers > 1
    runners: list[web.AppRunner] = []
    try:
        for app, host, port in (
                (build_operator_app(ctx), settings.operator_host, settings.operator_port),
                (build_public_app(ctx), settings.http_host, settings.http_port)):
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=10.0)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, host, port, reuse_port=shared).start()
        log.info("ingress operator API on http://%s:%d", settings.operator_host,
                 settings.operator_port)
        log.info("ingress listening on http://%s:%d", settings.http_host, settings.http_port)
        await _serve(ctx, settings, stop, store, read_model)
    finally:
        for runner in runners:
            await runner.cleanup()
        await _release(ctx)
        store.close()
        read_model.close()
        log.info("ingress stopped")


async def _serve(ctx: IngressContext, settings: Settings, stop: asyncio.Event,
                 store: EventStore, read_model: ReadModel) -> None:
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
        log.warning("ingress: making a fresh NATS connection")
        fresh = await _connect_and_wire(settings, stop, store, read_model)
        if fresh is None:
            return
        old = dataclasses.replace(ctx)
        ctx.rebind(fresh)
        await _release(old)
        log.info("ingress listening on http://%s:%d again with a fresh NATS connection",
                 settings.http_host, settings.http_port)
