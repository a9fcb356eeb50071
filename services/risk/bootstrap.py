"""Composition root of the risk service."""

from __future__ import annotations

from contracts import streams
from libs.brokers.factory import build_brokers
from libs.registry.cache import open_cached_registry
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from libs.runtime.config import Settings
from libs.runtime.consumer import Consumer
from libs.runtime.failures import exhausted
from libs.runtime.partitions.consumers import PartitionedConsumers
from libs.runtime.service import Runnable, run_consumers
from services.risk.handlers import RiskService
from services.risk.ledger import RiskDecisions, RiskLedgers


async def main(settings: Settings) -> None:
    """Run the risk service until SIGTERM."""

    async def build(bus: Bus) -> list[Runnable]:
        clock = SystemClock()
        registry = await open_cached_registry(bus, settings)
        ledgers = RiskLedgers(await bus.kv(streams.BUCKET_RISK))
        decisions = RiskDecisions(await bus.kv(streams.BUCKET_RISK_DECISIONS))
        risk = RiskService(registry, await build_brokers(bus, settings, clock), ledgers,
                           decisions, clock)

        def consumers(partition: int | None) -> list[Consumer]:
            decide, release = streams.RISK, streams.RISK_RELEASE
            if partition is not None:
                decide = streams.for_partition(decide, partition)
                release = streams.for_partition(release, partition)
            return [Consumer(bus, decide, risk.handle, exhausted("risk", clock),
                             handle_many=risk.decide_many),
                    Consumer(bus, release, risk.release, handle_many=risk.free_many)]

        if settings.partitions:
            # Decisions and releases of an account in the same partition, one owner.
            return [registry, PartitionedConsumers(bus, "risk", settings.partitions,
                                                   settings, consumers)]
        return [registry, *consumers(None)]

    await run_consumers("risk", settings, build)
