"""The timer loop: a failing tick is logged and the next runs; NATS being away is an
expected outage (a warning), anything else a bug (with its traceback)."""

from __future__ import annotations

import asyncio
import logging

import nats.errors
import pytest

from libs.runtime.timers import run_every


@pytest.mark.parametrize(("error", "traceback"), [
    (nats.errors.TimeoutError(), False),
    (ConnectionRefusedError(111, "refused"), False),
    (KeyError("bug"), True),
])
async def test_a_failing_tick_is_logged_and_the_loop_goes_on(
        error: Exception, traceback: bool, caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        ticks += 1
        if ticks == 1:
            raise error
        stop.set()

    with caplog.at_level(logging.WARNING, logger="libs.runtime.timers"):
        await asyncio.wait_for(run_every(stop, 0.001, tick, "probe"), timeout=5)
    assert ticks == 2
    (record,) = caplog.records
    assert "probe failed" in record.getMessage()
    assert (record.exc_info is not None) is traceback
    assert record.levelno == (logging.ERROR if traceback else logging.WARNING)
