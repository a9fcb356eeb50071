"""Composition root of the executor service."""

from __future__ import annotations

from contracts import streams
from contracts.market import PriceTick, decode_tick
from libs.brokers.factory import build_brokers
from libs.registry.cache import open_cached_registry
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from libs.runtime.config import Settings
from libs.runtime.consumer import Consumer, Outgoing
from libs.runtime.partitions.consumers import PartitionedConsumers
from libs.runtime.service import Runnable, run_consumers
from services.executor.handlers import Executor, OrderSync
from services.executor.open_orders import OpenOrders


async def main(settings: Settings) -> None:
    """Run the executor until SIGTERM."""

    async def build(bus: Bus) -> list[Runnable]:
        clock = SystemClock()
        registry = await open_cached_registry(bus, settings)
        executor = Executor(registry, await build_brokers(bus, settings, clock),
                            OpenOrders(await bus.kv(streams.BUCKET_OPEN_ORDERS)), clock)

        async def on_tick(tick: PriceTick) -> list[Outgoing]:
            return await executor.on_price(tick)

        def orders(partition: int | None) -> list[Consumer]:
            spec = streams.EXECUTOR if partition is None else \
                streams.for_partition(streams.EXECUTOR, partition)
            return [Consumer(bus, spec, executor.handle, executor.on_exhausted,
                             handle_many=executor.place_many)]

        placing: list[Runnable] = [
            PartitionedConsumers(bus, "executor", settings.partitions, settings, orders)
        ] if settings.partitions else [*orders(None)]
        return [
            registry,
            *placing,
            Consumer(bus, streams.EXECUTOR_PRICES, on_tick, decode=decode_tick),
            OrderSync(executor, bus, settings.order_sync_interval_s),
        ]

    await run_consumers("executor", settings, build)
