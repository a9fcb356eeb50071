"""Notifications waiting to be sent, recorded durably so a crash loses none.

The notifier acks an event only after its notice is recorded here; a batch (one
collapsed message) is recorded when it is cut and forgotten only once it was sent
(or given up). On a start the notifier reads back what is left: the notices of
windows still open, and the batches cut but not confirmed sent.

Records live in NATS KV (:data:`~contracts.streams.BUCKET_NOTIFY_PENDING`):

* ``n.<key>.<slot>.<event>``: one notice gathered into an open window (``slot``
  names the window; a window's notices are forgotten together, by subject purge);
* ``b.<key>.<slot>``: one cut batch, with its rendered text, until it was sent;
* ``l.<key>``: when the key's last batch was cut, so a restarted notifier keeps the
  rate limit (``min_interval_s``) running from there (one record per key, replaced).

``<key>`` and ``<event>`` are hashes (tenant ids, channel names and event ids may
hold characters a key may not). :class:`MemoryPending` keeps the same records in a
dict, for tests and for a notifier built without NATS.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Protocol

import msgspec
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from libs.registry.kv_keys import matching_keys

Key = tuple[str, str, str]  # tenant, channel, topic
MAX_BATCH_IDS = 5000  # event ids a batch record remembers (for de-duplication)


class NoticeRecord(msgspec.Struct, kw_only=True, frozen=True):
    """One event's notice gathered for one channel, in window ``slot``."""

    tenant_id: str
    channel: str
    topic: str
    slot: str
    event_id: str
    line: str
    at: datetime  # when it was gathered (wall clock)

    @property
    def key(self) -> Key:
        """The channel and topic it is gathered under."""
        return (self.tenant_id, self.channel, self.topic)


class BatchRecord(msgspec.Struct, kw_only=True, frozen=True):
    """A message cut for one channel and topic, not yet confirmed sent. ``batch_id``
    is stable across restarts (an e-mail's Message-ID is made from it)."""

    batch_id: str
    tenant_id: str
    channel: str
    topic: str
    title: str
    body: str
    total: int
    cut_at: datetime
    event_ids: list[str] = []
    day: date | None = None  # a daily summary's day

    @property
    def key(self) -> Key:
        """The channel and topic it goes to."""
        return (self.tenant_id, self.channel, self.topic)


class LastCut(msgspec.Struct, kw_only=True, frozen=True):
    """When a key's latest batch was cut (wall clock)."""

    tenant_id: str
    channel: str
    topic: str
    at: datetime

    @property
    def key(self) -> Key:
        """The channel and topic."""
        return (self.tenant_id, self.channel, self.topic)


def last_cut_of(batch: BatchRecord) -> LastCut:
    """The record saying ``batch`` was its key's latest cut."""
    return LastCut(tenant_id=batch.tenant_id, channel=batch.channel, topic=batch.topic,
                   at=batch.cut_at)


class Pending(Protocol):
    """Where notices and cut batches wait (durably, in production)."""

    async def noted(self, notice: NoticeRecord) -> None:
        """Record a gathered notice (a repeat is harmless)."""

    async def cut(self, batch: BatchRecord) -> None:
        """Record the batch and its key's last cut, then forget the notices of its
        window."""

    async def sent(self, batch: BatchRecord) -> None:
        """Forget the batch (and any notice of its window left behind)."""

    async def load(self) -> tuple[list[NoticeRecord], list[BatchRecord]]:
        """Everything recorded: notices of open windows, batches not sent."""

    async def last_cuts(self) -> list[LastCut]:
        """When each key's latest batch was cut."""


def key_token(key: Key) -> str:
    """A KV-safe token for a (tenant, channel, topic) key."""
    return hashlib.sha256("\0".join(key).encode()).hexdigest()[:24]


def _event_token(event_id: str) -> str:
    return hashlib.sha256(event_id.encode()).hexdigest()[:24]


def notice_key(notice: NoticeRecord) -> str:
    """The KV key of a notice."""
    return f"n.{key_token(notice.key)}.{notice.slot}.{_event_token(notice.event_id)}"


def batch_key(batch: BatchRecord) -> str:
    """The KV key of a batch."""
    return f"b.{key_token(batch.key)}.{batch.batch_id}"


def last_cut_key(batch: BatchRecord) -> str:
    """The KV key of the last cut of a batch's key."""
    return f"l.{key_token(batch.key)}"


_enc = msgspec.json.Encoder()
_notice_dec = msgspec.json.Decoder(NoticeRecord)
_batch_dec = msgspec.json.Decoder(BatchRecord)
_last_dec = msgspec.json.Decoder(LastCut)


class KvPending:
    """The records in a NATS KV bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def noted(self, notice: NoticeRecord) -> None:
        """Record a gathered notice."""
        await self.kv.put(notice_key(notice), _enc.encode(notice))

    async def cut(self, batch: BatchRecord) -> None:
        """Record the batch and the key's last cut, then purge its window's notices
        (one server call)."""
        await self.kv.put(batch_key(batch), _enc.encode(batch))
        await self.kv.put(last_cut_key(batch), _enc.encode(last_cut_of(batch)))
        await self._purge_window(batch)

    async def sent(self, batch: BatchRecord) -> None:
        """Forget the batch and whatever of its window is left."""
        await self._purge_window(batch)
        await self._purge(batch_key(batch))

    async def _purge_window(self, batch: BatchRecord) -> None:
        await self._purge(f"n.{key_token(batch.key)}.{batch.batch_id}.>")

    async def _purge(self, keys: str) -> None:
        # A stream purge by subject leaves no delete marker behind (kv.purge would
        # leave one per key for ever) and drops a whole window in one call.
        await self.kv._js.purge_stream(self.kv._stream, subject=f"{self.kv._pre}{keys}")

    async def load(self) -> tuple[list[NoticeRecord], list[BatchRecord]]:
        """Every record left in the bucket."""
        notices = [_notice_dec.decode(v) for v in await self._values("n.>")]
        batches = [_batch_dec.decode(v) for v in await self._values("b.>")]
        return notices, batches

    async def last_cuts(self) -> list[LastCut]:
        """Every key's last cut."""
        return [_last_dec.decode(v) for v in await self._values("l.>")]

    async def _values(self, pattern: str) -> list[bytes]:
        values = []
        for key in await matching_keys(self.kv, pattern):
            try:
                entry = await self.kv.get(key)
            except KeyNotFoundError:
                continue
            if entry.value:
                values.append(entry.value)
        return values


class MemoryPending:
    """The same records in memory (tests; a notifier without NATS)."""

    def __init__(self) -> None:
        self.notices: dict[str, NoticeRecord] = {}
        self.batches: dict[str, BatchRecord] = {}
        self.cuts: dict[str, LastCut] = {}

    async def noted(self, notice: NoticeRecord) -> None:
        """Record a gathered notice."""
        self.notices[notice_key(notice)] = notice

    async def cut(self, batch: BatchRecord) -> None:
        """Record the batch and the key's last cut, forget its window's notices."""
        self.batches[batch_key(batch)] = batch
        self.cuts[last_cut_key(batch)] = last_cut_of(batch)
        self._forget_window(batch)

    async def sent(self, batch: BatchRecord) -> None:
        """Forget the batch."""
        self._forget_window(batch)
        self.batches.pop(batch_key(batch), None)

    def _forget_window(self, batch: BatchRecord) -> None:
        prefix = f"n.{key_token(batch.key)}.{batch.batch_id}."
        for key in [k for k in self.notices if k.startswith(prefix)]:
            del self.notices[key]

    async def load(self) -> tuple[list[NoticeRecord], list[BatchRecord]]:
        """Every record."""
        return list(self.notices.values()), list(self.batches.values())

    async def last_cuts(self) -> list[LastCut]:
        """Every key's last cut."""
        return list(self.cuts.values())
