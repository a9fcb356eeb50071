"""Composition root of the sl-tp-monitor service."""

from __future__ import annotations

from contracts import streams
from services.runtime.bus import Bus
from services.runtime.config import Settings
from services.runtime.consumer import Consumer
from services.runtime.service import Runnable, run_consumers
from services.sltp_monitor.handlers import SlTpMonitor


async def main(settings: Settings) -> None:
    """Run the monitor until SIGTERM."""

    async def build(bus: Bus) -> list[Runnable]:
        return [Consumer(bus, streams.SLTP_MONITOR, SlTpMonitor().handle)]

    await run_consumers("sl-tp-monitor", settings, build)
