"""Composition root of the executor service."""

from __future__ import annotations

from contracts import streams
from services.brokers.factory import build_brokers
from services.executor.handlers import Executor
from services.registry.store import Registry
from services.runtime.bus import Bus
from services.runtime.clock import SystemClock
from services.runtime.config import Settings
from services.runtime.consumer import Consumer
from services.runtime.failures import exhausted
from services.runtime.service import run_consumers


async def main(settings: Settings) -> None:
    """Run the executor until SIGTERM."""

    async def build(bus: Bus) -> list[Consumer]:
        clock = SystemClock()
        registry = Registry(await bus.kv(streams.BUCKET_REGISTRY))
        executor = Executor(registry, await build_brokers(bus, settings, clock), clock)
        return [Consumer(bus, streams.EXECUTOR, executor.handle, exhausted("execute", clock))]

    await run_consumers("executor", settings, build)
