"""Periodic work inside a service: one loop for every timer (sync, breaker, cleanup)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from libs.runtime.bus import is_bus_error

log = logging.getLogger(__name__)


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds``; True as soon as ``stop`` is set."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


# How a timer waits between ticks: True when ``stop`` was set meanwhile. Tests pass
# their own, which lets the time pass at once.
Wait = Callable[[asyncio.Event, float], Awaitable[bool]]


async def run_every(stop: asyncio.Event, interval_s: float, tick: Callable[[], Awaitable[object]],
                    what: str, wait_first: bool = False, wait: Wait = stopped_within) -> None:
    """Call ``tick`` every ``interval_s`` until ``stop``; a failing tick is logged (with
    its traceback unless NATS itself failed) and the next one runs on time.
    ``wait_first`` skips the tick at start."""
    if wait_first and await wait(stop, interval_s):
        return
    while not stop.is_set():
        try:
            await tick()
        except Exception as exc:
            if is_bus_error(exc):  # NATS away (restarting, shutting down): expected
                log.warning("%s failed, the event bus is unavailable (%r); will retry",
                            what, exc)
            else:
                log.exception("%s failed; will retry", what)
        if await wait(stop, interval_s):
            return
