"""Composition root of the dispatcher (``tradehooks run dispatcher``)."""

from __future__ import annotations

from contracts import streams
from libs.callbacks.deliveries import DeliveryLog
from libs.callbacks.outbound import outbound_session
from libs.registry.cache import open_cached_registry
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from libs.runtime.config import Settings
from libs.runtime.consumer import Consumer
from libs.runtime.service import Runnable, run_consumers
from services.dispatcher.fanout import Fanout
from services.dispatcher.health import HealthBook
from services.dispatcher.machine import RetryPolicy
from services.dispatcher.sender import Sender
from services.dispatcher.worker import DeliveryWorker


def policy_of(settings: Settings) -> RetryPolicy:
    """The retry schedule and disabling rule the settings ask for."""
    return RetryPolicy(base_s=settings.callback_retry_base_s,
                       max_delay_s=settings.callback_retry_max_delay_s,
                       retry_for_s=settings.callback_retry_for_s,
                       disable_after=settings.callback_disable_after)


async def main(settings: Settings) -> None:
    """Run the dispatcher until SIGTERM."""
    policy = policy_of(settings)

    async def build(bus: Bus) -> list[Runnable]:
        clock = SystemClock()
        registry = await open_cached_registry(bus, settings)
        fanout = Fanout(registry, clock)
        session = outbound_session(settings.callback_timeout_s, settings.callback_ca_file,
                                   limit=settings.callback_concurrency)
        sender = Sender(session, settings.callback_allow_loopback, settings.callback_timeout_s)
        health = HealthBook(bus, registry, await bus.kv(streams.BUCKET_CALLBACK_HEALTH), clock,
                            policy)
        worker = DeliveryWorker(
            bus, registry, DeliveryLog(await bus.kv(streams.BUCKET_CALLBACK_DELIVERIES)),
            health, sender, policy, clock, settings.callback_concurrency)
        return [registry, Consumer(bus, streams.DISPATCHER, fanout.table(),
                                     decode=fanout.decode), worker]

    await run_consumers("dispatcher", settings, build)
