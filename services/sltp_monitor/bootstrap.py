"""Composition root of the sl-tp-monitor service."""

from __future__ import annotations

from collections.abc import Callable

from contracts import streams
from contracts.subjects import token
from libs.brokers.factory import build_brokers
from libs.registry.cache import open_cached_registry
from libs.registry.models import Account
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from libs.runtime.config import Settings
from libs.runtime.consumer import Consumer
from libs.runtime.partitions.consumers import PartitionedConsumers
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
        monitor = SlTpMonitor(registry, brokers, clock)
        fills: list[Runnable] = []
        owns: Callable[[Account], bool] | None = None
        if settings.partitions:
            partitioned = PartitionedConsumers(
                bus, "sl-tp-monitor", settings.partitions, settings,
                lambda p: [Consumer(bus, streams.for_partition(streams.SLTP_MONITOR, p),
                                    monitor.handle)])
            fills.append(partitioned)

            def owns(account: Account) -> bool:
                return partitioned.owns_account(token(account.tenant_id), token(account.id))
        else:
            fills.append(Consumer(bus, streams.SLTP_MONITOR, monitor.handle))
        # The breaker checks only the accounts whose partition this instance owns.
        breaker = BreakerLoop(bus, registry, brokers, await bus.kv(streams.BUCKET_BREAKERS),
                              clock, settings.breaker_interval_s, owns=owns)
        cleanup = OrphanCleanup(registry, brokers, bus, clock)
        commands = Commands(bus, cleanup, registry, brokers, settings.cleanup_interval_s)
        return [registry, *fills, breaker, commands]

    await run_consumers("sl-tp-monitor", settings, build)
