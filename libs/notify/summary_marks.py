"""Which channels were told a day's summary, recorded durably so a restarted notifier
tells a missed summary once and a told one never again.

One key per channel and day in NATS KV (:data:`~contracts.streams.BUCKET_NOTIFY_SUMMARIES`,
``<day>.<key token>``), kept a few days (the bucket's TTL). The notifier records the
summary's batch (:mod:`libs.notify.pending`) first, then this mark, and sends only
after both: a crash between the two leaves a batch that the next start marks
(:meth:`services.notifier.handlers.Notifier.restore`) instead of cutting it again.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from libs.notify.pending import key_token
from libs.notify.summary import TOPIC


class SummaryMarks(Protocol):
    """Where "channel C of tenant T was given day D's summary" is kept."""

    async def done(self, tenant_id: str, channel: str, day: date) -> bool:
        """Whether the channel's summary of ``day`` was recorded."""

    async def mark(self, tenant_id: str, channel: str, day: date) -> None:
        """Record the channel's summary of ``day`` (a repeat is harmless)."""


def mark_key(tenant_id: str, channel: str, day: date) -> str:
    """The KV key of one mark."""
    return f"{day.isoformat()}.{key_token((tenant_id, channel, TOPIC))}"


class KvSummaryMarks:
    """The marks in a NATS KV bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def done(self, tenant_id: str, channel: str, day: date) -> bool:
        """Whether the mark is there."""
        try:
            entry = await self.kv.get(mark_key(tenant_id, channel, day))
        except KeyNotFoundError:
            return False
        return bool(entry.value)

    async def mark(self, tenant_id: str, channel: str, day: date) -> None:
        """Put the mark."""
        await self.kv.put(mark_key(tenant_id, channel, day), b"1")


class MemorySummaryMarks:
    """The marks in memory (tests; a notifier without NATS)."""

    def __init__(self) -> None:
        self.marks: set[str] = set()

    async def done(self, tenant_id: str, channel: str, day: date) -> bool:
        """Whether the mark is there."""
        return mark_key(tenant_id, channel, day) in self.marks

    async def mark(self, tenant_id: str, channel: str, day: date) -> None:
        """Put the mark."""
        self.marks.add(mark_key(tenant_id, channel, day))
