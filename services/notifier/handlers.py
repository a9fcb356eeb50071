"""The notifier: gathers notices per channel and topic, sends the batches when due.

At least once. An event is acked only after its notices are recorded durably
(:mod:`libs.notify.pending`, NATS KV); a batch is recorded when it is cut and
forgotten only after its channel took it (or refused it for good, or it grew older
than ``max_age_s``). A notifier that starts reads both back: open windows go on
collecting (a burst cut by a crash is still one message), cut batches are sent.

Duplicates. A batch is re-sent, as the same message (same batch id; an e-mail keeps
its Message-ID, so a mailbox can drop the copy), when the process dies after the
channel took it and before the record is forgotten; chat services have no
idempotency key, so there people see it twice. An event redelivered after its
notice was recorded (a crash between recording and the ack) is recognised by its
event id while its window or batch is remembered.

The daily summary. Its counts come from :class:`~libs.notify.day_counts.DayCounts`
(the stream, in production: nothing a restart forgets); each channel's summary of a
day is recorded as a batch, then marked told (:mod:`libs.notify.summary_marks`), then
sent, so a notifier restarted after the hour tells a missed summary once and a told
one never again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from contracts.events import AuthFailuresAlert, BreakerTripped, Event, TradeExecuted, WebhookFailed
from libs.notify.collapse import Batch, Collapser, Key
from libs.notify.day_counts import DayCounts, LiveDayCounts
from libs.notify.messages import Message, Notice, fresh, notice_for, render
from libs.notify.pending import (
    MAX_BATCH_IDS,
    BatchRecord,
    MemoryPending,
    NoticeRecord,
    Pending,
)
from libs.notify.summary import TOPIC as SUMMARY
from libs.notify.summary import day_to_summarise, summary_batch_id, summary_message
from libs.notify.summary_marks import MemorySummaryMarks, SummaryMarks
from libs.registry.models import NotificationChannel
from libs.registry.store import Registry
from libs.runtime.bus import is_bus_error
from libs.runtime.clock import Clock
from libs.runtime.consumer import Outgoing
from libs.runtime.dispatch import HandlerTable
from libs.runtime.timers import stopped_within
from services.notifier.senders import SendError, Senders

log = logging.getLogger(__name__)
MAX_RETRY_S = 300.0


@dataclass
class _Outbound:
    """A cut batch waiting for its channel, and when to try next."""

    record: BatchRecord
    next_at: float
    attempts: int = 0


class _Recent:
    """Event ids already gathered per key (bounded): a redelivered event is not
    told twice while its id is remembered."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._ids: OrderedDict[tuple[Key, str], None] = OrderedDict()

    def __contains__(self, item: tuple[Key, str]) -> bool:
        return item in self._ids

    def add(self, key: Key, event_id: str) -> None:
        self._ids[(key, event_id)] = None
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


class Notifier:
    """Consumer handlers plus the loop that sends due batches."""

    def __init__(self, registry: Registry, senders: Senders, clock: Clock,
                 max_age_s: float, tick_s: float = 0.25, retry_s: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 summary_hour: int = 21, pending: Pending | None = None,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
                 day_counts: DayCounts | None = None,
                 marks: SummaryMarks | None = None) -> None:
        self.registry = registry
        self.senders = senders
        self.clock = clock
        self.max_age_s = max_age_s
        self.tick_s = tick_s
        self.retry_s = retry_s
        self.monotonic = monotonic
        self.pending: Pending = pending if pending is not None else MemoryPending()
        self.new_id = new_id
        self.collapser = Collapser()
        self.outbox: dict[str, _Outbound] = {}
        self.recent = _Recent()
        self._lock = asyncio.Lock()  # gathering and cutting never interleave
        self.day_counts: DayCounts = day_counts if day_counts is not None else LiveDayCounts()
        self.marks: SummaryMarks = marks if marks is not None else MemorySummaryMarks()
        self.summary_hour = summary_hour
        # Channels whose summary of a day is marked (so KV is asked once per day).
        self._told: set[tuple[str, str, date]] = set()
        # What the notifier consumes (streams.NOTIFIER).
        self.handle = HandlerTable({TradeExecuted: self.gather, WebhookFailed: self.gather,
                                    BreakerTripped: self.gather,
                                    AuthFailuresAlert: self.gather})

    async def restore(self) -> int:
        """Take back what a previous run recorded and did not send (before consuming);
        how many notices and batches."""
        notices, batches = await self.pending.load()
        now, wall = self.monotonic(), self.clock.now()
        for last in await self.pending.last_cuts():
            channel = await self._channel(last.key)
            if channel is not None and last.topic in channel.topics and last.topic != SUMMARY:
                # The rate limit runs on from the previous process's last message.
                age = max(0.0, (wall - last.at).total_seconds())
                self.collapser.sent_before(last.key, now - age, channel.min_interval_s)
        cut = {(b.key, b.batch_id) for b in batches}
        for record in batches:
            if record.topic == SUMMARY and record.day is not None:
                # Cut, maybe not marked yet (a crash between the two): mark it before
                # anything is sent, so the summary is never cut again.
                await self.marks.mark(record.tenant_id, record.channel, record.day)
            self.outbox[record.batch_id] = _Outbound(record, now)
            for event_id in record.event_ids:
                self.recent.add(record.key, event_id)
        windows: dict[tuple[Key, str], list[NoticeRecord]] = {}
        for notice in notices:
            windows.setdefault((notice.key, notice.slot), []).append(notice)
        for (key, slot), records in sorted(windows.items(),
                                           key=lambda w: min(n.at for n in w[1])):
            if (key, slot) in cut:  # cut, and the crash came before its purge
                continue
            records.sort(key=lambda n: n.at)
            channel = await self._channel(key)
            if channel is None or key[2] not in channel.topics:
                await self.pending.sent(_empty_batch(key, slot, wall))
                continue
            if self.collapser.open_slot(key) is not None:
                # A second open window of one key (a cut whose record failed): its
                # notices go as a batch of their own.
                await self._cut(Batch(key, tuple(n.line for n in records), len(records),
                                      slot, tuple(n.event_id for n in records)), now)
                continue
            for n in records:
                age = max(0.0, (wall - n.at).total_seconds())
                self.collapser.add(key, Notice(key[0], key[2], n.line, n.event_id),
                                   now - age, channel.collapse_s, channel.min_interval_s, slot)
                self.recent.add(key, n.event_id)
        if notices or batches:
            log.info("took back %d notice(s) and %d unsent batch(es)", len(notices),
                     len(batches))
        return len(notices) + len(batches)

    async def gather(self, event: Event) -> list[Outgoing]:
        """Record the event's notice for every channel of its tenant that wants it
        (the event is acked once this returns)."""
        notice = notice_for(event)
        if notice is None:
            return []
        self.day_counts.seen(event)
        if not fresh(event.occurred_at, self.clock.now(), self.max_age_s):
            return []
        tenant = await self.registry.tenant(event.tenant_id)
        if tenant is None:
            return []
        async with self._lock:
            for channel in tenant.notifications:
                if not channel.enabled or notice.topic not in channel.topics:
                    continue
                key = (tenant.id, channel.name, notice.topic)
                if (key, event.event_id) in self.recent:
                    continue  # redelivered: already gathered
                slot = self.collapser.open_slot(key) or self.new_id()
                await self.pending.noted(NoticeRecord(
                    tenant_id=tenant.id, channel=channel.name, topic=notice.topic,
                    slot=slot, event_id=event.event_id, line=notice.line,
                    at=self.clock.now()))
                self.collapser.add(key, notice, self.monotonic(), channel.collapse_s,
                                   channel.min_interval_s, slot)
                self.recent.add(key, event.event_id)
        return []

    async def run(self, stop: asyncio.Event) -> None:
        """Send due batches until ``stop``; then try once more whatever is gathered."""
        while not await stopped_within(stop, self.tick_s):
            try:
                await self.tick()
            except Exception as exc:
                if not is_bus_error(exc):
                    raise
                log.warning("notifier could not record its progress: %s", exc)
        await self.flush(math.inf)

    async def tick(self) -> None:
        """One round of the loop: send what is due, then the summary if it is due."""
        await self.flush(self.monotonic())
        await self.summarise()

    async def flush(self, now: float) -> int:
        """Cut the batches due at ``now`` and send what is due; how many were sent."""
        async with self._lock:
            for batch in self.collapser.due(now):
                await self._cut(batch, now)
        sent = 0
        for out in [o for o in self.outbox.values() if o.next_at <= now]:
            sent += await self._attempt(out, now)
        return sent

    async def summarise(self) -> int:
        """Send the day's summary to every channel that wants one and was not given
        it yet, once the summary hour has come; how many were sent."""
        day = day_to_summarise(self.clock.now(), self.summary_hour)
        if day is None:
            return 0
        now = self.monotonic()
        counts: dict[str, Counter[str]] | None = None
        outs = []
        for tenant in await self.registry.tenants():
            for channel in tenant.notifications:
                told = (tenant.id, channel.name, day)
                if not channel.enabled or SUMMARY not in channel.topics or \
                        told in self._told:
                    continue
                if await self.marks.done(*told):
                    log.info("the summary of %s for %s/%s was sent before", day, tenant.id,
                             channel.name)
                    self._told.add(told)
                    continue
                if counts is None:  # read once, for every tenant
                    counts = await self.day_counts.of_day(day)
                message = summary_message(tenant.id, day, counts.get(tenant.id, Counter()))
                record = BatchRecord(
                    batch_id=summary_batch_id(tenant.id, channel.name, day),
                    tenant_id=tenant.id, channel=channel.name, topic=SUMMARY,
                    title=message.title, body=message.body, total=1,
                    cut_at=self.clock.now(), day=day)
                await self.pending.cut(record)  # then marked: sent only once both hold
                await self.marks.mark(*told)
                self._told.add(told)
                outs.append(self.outbox.setdefault(record.batch_id, _Outbound(record, now)))
        return sum([await self._attempt(out, now) for out in outs])

    async def _cut(self, batch: Batch, now: float) -> None:
        """Record a due batch (its notices forgotten) and queue it for sending."""
        tenant_id, name, topic = batch.key
        message = render(topic, list(batch.lines), batch.total)
        record = BatchRecord(batch_id=batch.slot or self.new_id(), tenant_id=tenant_id,
                             channel=name, topic=topic, title=message.title,
                             body=message.body, total=batch.total, cut_at=self.clock.now(),
                             event_ids=list(batch.event_ids[:MAX_BATCH_IDS]))
        self.outbox[record.batch_id] = _Outbound(record, now)
        try:
            await self.pending.cut(record)
        except Exception as exc:
            if not is_bus_error(exc):
                raise
            # Its notices stay recorded: after a crash they are sent from there.
            log.warning("batch %s of %s/%s not recorded as cut: %s", record.batch_id,
                        tenant_id, name, exc)

    async def _attempt(self, out: _Outbound, now: float) -> int:
        """One try of a cut batch; 1 when its channel took it."""
        record = out.record
        channel = await self._channel(record.key)
        if channel is None:
            await self._forget(out)  # the channel was removed or disabled meanwhile
            return 0
        try:
            await self.senders.send(channel, Message(record.title, record.body,
                                                     record.batch_id))
        except SendError as exc:
            out.attempts += 1
            age = (self.clock.now() - record.cut_at).total_seconds()
            if exc.permanent or age > self.max_age_s:
                log.error("notification to %s/%s given up after %d attempt(s) (%d %s): %s",
                          record.tenant_id, record.channel, out.attempts, record.total,
                          record.topic, exc)
                await self._forget(out)
                return 0
            out.next_at = now + min(MAX_RETRY_S, self.retry_s * 2 ** (out.attempts - 1))
            log.warning("notification to %s/%s (%s) failed, attempt %d: %s",
                        record.tenant_id, record.channel, record.topic, out.attempts, exc)
            return 0
        log.info("told %s/%s about %d %s", record.tenant_id, record.channel, record.total,
                 record.topic)
        await self._forget(out)
        return 1

    async def _forget(self, out: _Outbound) -> None:
        self.outbox.pop(out.record.batch_id, None)
        await self.pending.sent(out.record)

    async def _channel(self, key: Key) -> NotificationChannel | None:
        tenant = await self.registry.tenant(key[0])
        if tenant is None:
            return None
        return next((c for c in tenant.notifications if c.name == key[1] and c.enabled),
                    None)


def _empty_batch(key: Key, slot: str, at: datetime) -> BatchRecord:
    """A record naming a window, to forget its notices."""
    return BatchRecord(batch_id=slot, tenant_id=key[0], channel=key[1], topic=key[2],
                       title="", body="", total=0, cut_at=at)
