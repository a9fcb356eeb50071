"""Composition root of the notifier service."""

from __future__ import annotations

from contracts import streams
from libs.callbacks.outbound import outbound_session
from libs.notify.bot import parse_bindings
from libs.notify.day_counts import StreamDayCounts
from libs.notify.pending import KvPending
from libs.notify.summary_marks import KvSummaryMarks
from libs.registry.cache import open_cached_registry
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from libs.runtime.config import Settings
from libs.runtime.consumer import Consumer
from libs.runtime.service import Runnable, run_consumers
from services.notifier.handlers import Notifier
from services.notifier.senders import Senders
from services.notifier.telegram_api import TelegramBots
from services.notifier.telegram_bot import TelegramBot


async def main(settings: Settings) -> None:
    """Run the notifier (and the Telegram admin bot when configured) until SIGTERM."""
    bindings = parse_bindings(settings.telegram_admins)  # a bad entry stops the start
    hooks = outbound_session(settings.notify_timeout_s, settings.callback_ca_file)
    telegram = TelegramBots(settings.telegram_api_url, settings.notify_timeout_s,
                            settings.telegram_poll_s)
    async with hooks:
        senders = Senders(telegram, settings.notify_timeout_s,
                          settings.callback_allow_loopback, hooks=hooks)

        async def build(bus: Bus) -> list[Runnable]:
            registry = await open_cached_registry(bus, settings)
            pending = KvPending(await bus.kv(streams.BUCKET_NOTIFY_PENDING))
            notifier = Notifier(registry, senders, SystemClock(), settings.notify_max_age_s,
                                summary_hour=settings.notify_summary_hour, pending=pending,
                                day_counts=StreamDayCounts(bus),
                                marks=KvSummaryMarks(
                                    await bus.kv(streams.BUCKET_NOTIFY_SUMMARIES)))
            await notifier.restore()  # before the first event is gathered
            runnables: list[Runnable] = [
                registry, Consumer(bus, streams.NOTIFIER, notifier.handle), notifier]
            if settings.telegram_bot_token:
                runnables.append(TelegramBot(
                    telegram, settings.telegram_bot_token, bindings, bus, registry,
                    SystemClock(), settings.api_url, settings.telegram_poll_s))
            return runnables

        try:
            await run_consumers("notifier", settings, build)
        finally:
            await telegram.close()
