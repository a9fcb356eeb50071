"""Composition root of the validator service."""

from __future__ import annotations

from contracts import streams
from services.registry.cache import open_cached_registry
from services.runtime.bus import Bus
from services.runtime.clock import SystemClock
from services.runtime.config import Settings
from services.runtime.consumer import Consumer
from services.runtime.failures import exhausted
from services.runtime.service import Runnable, run_consumers
from services.validator.handlers import Validator


async def main(settings: Settings) -> None:
    """Run the validator until SIGTERM."""

    async def build(bus: Bus) -> list[Runnable]:
        clock = SystemClock()
        registry = await open_cached_registry(bus, settings)
        validator = Validator(registry, clock)
        return [registry,
                Consumer(bus, streams.VALIDATOR, validator.handle, exhausted("validate", clock))]

    await run_consumers("validator", settings, build)
