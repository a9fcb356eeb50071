"""Composition root of the validator service."""

from __future__ import annotations

from contracts import streams
from libs.registry.cache import open_cached_registry
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from libs.runtime.config import Settings
from libs.runtime.consumer import Consumer
from libs.runtime.failures import exhausted
from libs.runtime.partitions.consumers import PartitionedConsumers
from libs.runtime.service import Runnable, run_consumers
from services.validator.handlers import Validator


async def main(settings: Settings) -> None:
    """Run the validator until SIGTERM."""

    async def build(bus: Bus) -> list[Runnable]:
        clock = SystemClock()
        registry = await open_cached_registry(bus, settings)
        validator = Validator(registry, clock)

        def consumers(_partition: int | None = None) -> list[Consumer]:
            return [Consumer(bus, streams.VALIDATOR, validator.handle,
                             exhausted("validate", clock))]

        if settings.partitions:
            # webhook.received has no account yet: one partition, so one instance
            # validates at a time (in order per strategy), the others stand by.
            return [registry, PartitionedConsumers(bus, "validator", 1, settings, consumers)]
        return [registry, *consumers()]

    await run_consumers("validator", settings, build)
