"""The notifier: gathers notices per channel and topic, sends the batches when due.

Events are acked once their notices are gathered (in memory): a notice still waiting
for its collapse window when the process dies is lost; people are told at most once
(a redelivered event could repeat one). On a clean stop everything gathered is sent.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, date

from contracts.events import AuthFailuresAlert, BreakerTripped, Event, TradeExecuted, WebhookFailed
from libs.notify.collapse import Batch, Collapser
from libs.notify.messages import Message, fresh, notice_for, render
from libs.notify.summary import DailyTally, day_to_summarise, summary_message
from libs.registry.models import NotificationChannel
from libs.registry.store import Registry
from libs.runtime.clock import Clock
from libs.runtime.consumer import Outgoing
from libs.runtime.dispatch import HandlerTable
from libs.runtime.timers import stopped_within
from services.notifier.senders import SendError, Senders

log = logging.getLogger(__name__)


class Notifier:
    """Consumer handlers plus the loop that sends due batches."""

    def __init__(self, registry: Registry, senders: Senders, clock: Clock,
                 max_age_s: float, tick_s: float = 0.25, attempts: int = 3,
                 monotonic: Callable[[], float] = time.monotonic,
                 summary_hour: int = 21) -> None:
        self.registry = registry
        self.senders = senders
        self.clock = clock
        self.max_age_s = max_age_s
        self.tick_s = tick_s
        self.attempts = attempts
        self.monotonic = monotonic
        self.collapser = Collapser()
        self.tally = DailyTally()
        self.summary_hour = summary_hour
        # The day summarised last: a notifier starting after the hour summarises the
        # next day only (it has not seen this one).
        now = clock.now()
        self.summarised: date | None = now.date() if now.hour >= summary_hour else None
        # What the notifier consumes (streams.NOTIFIER).
        self.handle = HandlerTable({TradeExecuted: self.gather, WebhookFailed: self.gather,
                                    BreakerTripped: self.gather,
                                    AuthFailuresAlert: self.gather})

    async def gather(self, event: Event) -> list[Outgoing]:
        """Gather the event's notice for every channel of its tenant that wants it."""
        notice = notice_for(event)
        if notice is None or not fresh(event.occurred_at, self.clock.now(), self.max_age_s):
            return []
        self.tally.count(event.tenant_id, notice.topic, event.occurred_at.astimezone(UTC).date())
        tenant = await self.registry.tenant(event.tenant_id)
        if tenant is None:
            return []
        for channel in tenant.notifications:
            if channel.enabled and notice.topic in channel.topics:
                self.collapser.add((tenant.id, channel.name, notice.topic), notice,
                                   self.monotonic(), channel.collapse_s, channel.min_interval_s)
        return []

    async def run(self, stop: asyncio.Event) -> None:
        """Send due batches until ``stop``; then send whatever is gathered."""
        while not await stopped_within(stop, self.tick_s):
            await self.flush(self.monotonic())
            await self.summarise()
        await self.flush(math.inf)

    async def flush(self, now: float) -> int:
        """Send the batches due at ``now``; how many were sent."""
        sent = 0
        for batch in self.collapser.due(now):
            sent += await self._send(batch)
        return sent

    async def summarise(self) -> int:
        """Send the day's summary to every channel that wants one, once the summary
        hour has come; how many were sent."""
        day = day_to_summarise(self.clock.now(), self.summary_hour, self.summarised)
        if day is None:
            return 0
        self.summarised = day
        sent = 0
        for tenant in await self.registry.tenants():
            counts = self.tally.take(tenant.id, day)
            for channel in tenant.notifications:
                if channel.enabled and "daily_summary" in channel.topics:
                    sent += await self._deliver(tenant.id, channel,
                                                summary_message(tenant.id, day, counts),
                                                "daily_summary", 1)
        return sent

    async def _send(self, batch: Batch) -> int:
        tenant_id, name, topic = batch.key
        tenant = await self.registry.tenant(tenant_id)
        channel = next((c for c in tenant.notifications if c.name == name), None) \
            if tenant is not None else None
        if channel is None or not channel.enabled:
            return 0  # removed or disabled meanwhile
        return await self._deliver(tenant_id, channel,
                                   render(topic, list(batch.lines), batch.total), topic,
                                   batch.total)

    async def _deliver(self, tenant_id: str, channel: NotificationChannel, message: Message,
                       topic: str, total: int) -> int:
        name = channel.name
        for attempt in range(1, self.attempts + 1):
            try:
                await self.senders.send(channel, message)
            except SendError as exc:
                log.warning("notification to %s/%s (%s) failed, attempt %d: %s",
                            tenant_id, name, topic, attempt, exc)
                if attempt < self.attempts:
                    await asyncio.sleep(0.5 * attempt)
                continue
            log.info("told %s/%s about %d %s", tenant_id, name, total, topic)
            return 1
        log.error("notification to %s/%s dropped after %d attempts (%d %s)",
                  tenant_id, name, self.attempts, total, topic)
        return 0
