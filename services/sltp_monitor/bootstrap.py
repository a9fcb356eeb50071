"""Composition root of the sl-tp-monitor service."""

from __future__ import annotations

from contracts import streams
from libs.brokers.factory import build_brokers
from libs.registry.cache import open_cached_registry
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from libs.runtime.config import Settings
from libs.runtime.consumer import Consumer
from libs.runtime.service import Runnable, run_consumers
from services.sltp_monitor.breaker_loop import BreakerLoop
from services.sltp_monitor.cleanup import OrphanCleanup
from services.sltp_monitor.commands import Commands
from services.sltp_monitor.handlers import SlTpMonitor


async def main(settings: Settings) -> None:
    """Run the monitor until SIGTERM."""

    async def build(bus: Bus) -> list[Runnable]:
        clock = SystemClock()
        registry = await open_cached_registry(bus, settings)
        brokers = await build_brokers(bus, settings, clock)
        breaker = BreakerLoop(bus, registry, brokers, await bus.kv(streams.BUCKET_BREAKERS),
                              clock, settings.breaker_interval_s)
        monitor = SlTpMonitor(registry, brokers, clock)
        cleanup = OrphanCleanup(registry, brokers, bus, clock)
        commands = Commands(bus, cleanup, registry, brokers, settings.cleanup_interval_s)
        return [registry, Consumer(bus, streams.SLTP_MONITOR, monitor.handle), breaker, commands]

    await run_consumers("sl-tp-monitor", settings, build)
