"""Process plumbing for a pipeline service: connect, consume, stop on a signal.

SIGTERM (or SIGINT) sets ``stop``: consumers fetch no more, finish the messages in
hand (publishing their outputs before acking; a message waiting to be retried
is nak'd so another instance takes it), timer loops finish their tick, and the
NATS connection is flushed and closed. The process exits 0 within ~20 s even if
something hangs: after :data:`STOP_GRACE_S` the rest is cancelled, and whatever it
held is redelivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from libs.runtime.bus import Bus, connect, ensure_topology, is_bus_error
from libs.runtime.config import Settings
from libs.runtime.probe import start_probe_server
from libs.runtime.timers import stopped_within

log = logging.getLogger(__name__)
SUPERVISED_ENV = "TRADEHOOKS_SUPERVISED"
SUPERVISOR_PID_ENV = "TRADEHOOKS_SUPERVISOR_PID"
# After SIGTERM a service's consumers and loops get this long to finish what they
# hold (a consumer gives itself a little less); then they are cancelled, and what
# they held is redelivered. With closing NATS (at most ~7 s) a stop takes < 20 s.
STOP_GRACE_S = 10.0


def install_stop_handlers(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop``: in-flight work finishes, then we exit.

    Under ``tradehooks up`` a terminal's Ctrl-C reaches every process of the group;
    supervised services ignore SIGINT and let the supervisor stop them in order.
    """
    loop = asyncio.get_running_loop()
    supervised = os.environ.get(SUPERVISED_ENV) == "1"
    for sig in (signal.SIGTERM, signal.SIGINT):
        if sig == signal.SIGINT and supervised:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            continue
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if supervised:
        # The supervisor's pid from its environment, not getppid(): a service that
        # gets here after the supervisor died has init for a parent already.
        parent = int(os.environ.get(SUPERVISOR_PID_ENV) or os.getppid())
        _watchdogs.add(loop.create_task(_stop_when_orphaned(stop, parent)))


_watchdogs: set[asyncio.Task[None]] = set()
# An orphaned service that has not ended this long after its stop ends at once: nobody
# is left to escalate (the supervisor would SIGKILL it), and with NATS gone with the
# supervisor a stop can wait on calls that never answer. Unacked work is redelivered.
ORPHAN_EXIT_S = 30.0


async def _stop_when_orphaned(stop: asyncio.Event, parent: int) -> None:
    """A supervised service stops when its supervisor is gone (killed with -9, say),
    instead of running on unattended; if stopping takes longer than
    :data:`ORPHAN_EXIT_S`, the process exits (a thread's timer: it fires even if the
    event loop is stuck)."""
    while os.getppid() == parent:
        if await stopped_within(stop, 1.0):
            return
    log.warning("supervisor %d is gone; stopping", parent)
    stop.set()
    timer = threading.Timer(ORPHAN_EXIT_S, _exit_orphaned, args=(ORPHAN_EXIT_S,))
    timer.daemon = True
    timer.start()


def _exit_orphaned(deadline: float) -> None:
    log.error("still stopping %.0f s after the supervisor went; exiting now", deadline)
    logging.shutdown()
    os._exit(70)


async def connect_when_available(settings: Settings, name: str, stop: asyncio.Event,
                                 **callbacks: Any) -> Bus | None:
    """Connect to NATS, retrying until it answers or ``stop`` is set (then None).

    nats-py gives up on a first connect to a single server it cannot reach, but with
    endless reconnects it keeps trying a cluster's servers inside one call: so a stop
    also abandons an attempt in progress (else SIGTERM did nothing until NATS came).
    """
    while True:
        attempt = asyncio.ensure_future(
            connect(settings.nats_url, name=f"tradehooks-{name}", **callbacks))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({attempt, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not attempt.done():
            attempt.cancel()
            with contextlib.suppress(BaseException):
                await attempt
            return None
        try:
            return attempt.result()
        except Exception as exc:
            log.warning("%s cannot reach NATS at %s yet (%r)", name, settings.nats_url, exc)
        if await stopped_within(stop, 1.0):
            return None


class Runnable(Protocol):
    """A consumer or background loop that runs until ``stop`` is set."""

    async def run(self, stop: asyncio.Event) -> None: ...


async def run_until_stopped(runnables: list[Runnable], stop: asyncio.Event,
                            grace_s: float, bus: Bus | None = None) -> bool:
    """Run every runnable until ``stop``; then give them ``grace_s`` to finish.

    Returns False when ``bus`` was closed for good first: the runnables are then
    cancelled at once (nothing they hold can be acked on a closed connection; it is
    redelivered) and the caller starts again on a fresh connection. A runnable that
    raises ends the service with its error, unless the connection's loss caused it.
    """
    running: asyncio.Future[Any] = asyncio.gather(*(r.run(stop) for r in runnables))
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    lost: asyncio.Future[Any] = asyncio.ensure_future(
        bus.wait_lost() if bus is not None else asyncio.Event().wait())
    try:
        await asyncio.wait([running, stopping, lost], return_when=asyncio.FIRST_COMPLETED)
        if lost.done() or (bus is not None and bus.closed_for_good):
            await _cancel(running)
            return False
        if not running.done():
            log.info("stopping: no more fetching; finishing the messages in hand")
            try:
                await asyncio.wait_for(asyncio.shield(running), grace_s)
            except TimeoutError:
                log.warning("still busy %.0f s after the stop; cancelling", grace_s)
                await _cancel(running)
                return True
        running.result()
        return True
    finally:
        stopping.cancel()
        lost.cancel()


async def _cancel(running: asyncio.Future[Any]) -> None:
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await running


class BusHealth:
    """What ``/healthz`` and ``/readyz`` say about a service's current connection."""

    def __init__(self) -> None:
        self.bus: Bus | None = None

    def alive(self) -> bool:
        """False while the connection is closed for good and not yet replaced."""
        return self.bus is None or not self.bus.closed_for_good

    def ready(self) -> bool:
        """Connected now."""
        return self.bus is not None and self.bus.nc.is_connected


async def run_consumers(
    name: str, settings: Settings, build: Callable[[Bus], Awaitable[list[Runnable]]],
    stop: asyncio.Event | None = None,
) -> None:
    """Connect to NATS, build the service's consumers and loops, run them until stopped.

    If the server closes the connection for good (nats-py does on most ``-ERR``
    answers), everything built on it is dropped and built again on a fresh
    connection: consumers, registry watches, KV handles.
    """
    stop = stop or asyncio.Event()
    install_stop_handlers(stop)
    health = BusHealth()
    probe = None
    if settings.metrics_port:
        probe = await start_probe_server(settings.operator_host, settings.metrics_port, health)
    try:
        while not stop.is_set():
            bus = await connect_when_available(settings, name, stop)
            if bus is None:
                return
            health.bus = bus
            try:
                if await _run_on(name, settings, build, bus, stop):
                    return
            finally:
                await bus.close()
            log.warning("%s: starting again on a fresh NATS connection", name)
    finally:
        if probe is not None:
            await probe.cleanup()
        log.info("%s stopped", name)


async def _run_on(name: str, settings: Settings,
                  build: Callable[[Bus], Awaitable[list[Runnable]]], bus: Bus,
                  stop: asyncio.Event) -> bool:
    """Build and run the service on ``bus``; False when the connection was lost."""
    consumers: list[Runnable] = []

    def _reconnected() -> None:
        # Consumers rebuild their pull subscriptions, caches their watches.
        for runnable in consumers:
            hook = getattr(runnable, "on_reconnected", None)
            if hook is not None:
                hook()

    bus.on_reconnected.append(_reconnected)
    while True:
        # NATS may go away while we start: keep trying instead of dying.
        try:
            await ensure_topology(bus, settings.dedupe_window_s, settings.nats_replicas,
                                  settings.partitions)
            consumers.extend(await build(bus))
            break
        except Exception as exc:
            if not is_bus_error(exc):
                raise
            log.warning("%s could not start yet (%r); retrying", name, exc)
            consumers.clear()
            if bus.closed_for_good:
                return False
            if await stopped_within(stop, 1.0):
                return True
    log.info("%s running (%d consumer(s))", name, len(consumers))
    return await run_until_stopped(consumers, stop, STOP_GRACE_S, bus)
