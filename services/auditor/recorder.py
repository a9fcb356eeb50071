"""Auditor: appends every event to the event store, then advances the projections.

Batches are stored in one transaction and acked after it commits; a redelivered
event is recognised by its ``event_id`` in its trail and not stored twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

import msgspec
from nats.aio.msg import Msg

from contracts import streams
from contracts.events import AnyEvent, decode_event, event_type
from libs.runtime import metrics
from libs.runtime.bus import Bus
from libs.runtime.consumer import Consumer, Outgoing
from projections.store import EventStore

log = logging.getLogger(__name__)


async def _store_in_batches(_: AnyEvent) -> list[Outgoing]:
    raise NotImplementedError("the auditor handles whole batches in process_batch")


class Projector(Protocol):
    """A read model that catches up with the store (its views and position saved
    in one transaction)."""

    def catch_up(self) -> int: ...


class AuditConsumer(Consumer):
    """A consumer that stores whole batches instead of dispatching one by one."""

    def __init__(self, bus: Bus, store: EventStore, projectors: Sequence[Projector],
                 batch: int = 256, linger: float = 0.0) -> None:
        super().__init__(bus, streams.AUDITOR, _store_in_batches, batch=batch, linger=linger)
        self.store = store
        self.projectors = list(projectors)

    async def process_batch(self, msgs: list[Msg]) -> None:
        """Store the decodable events of ``msgs`` atomically, then ack them."""
        events: list[AnyEvent] = []
        good: list[Msg] = []
        for msg in msgs:
            try:
                events.append(decode_event(msg.data))
                good.append(msg)
            except msgspec.DecodeError as exc:
                await self.dead_letter(msg, f"undecodable: {exc}")
        if not events:
            return
        try:
            stored = await asyncio.to_thread(self._store, events)
        except Exception:
            log.exception("auditor could not store %d event(s); will retry", len(events))
            for msg in good:
                await msg.nak(delay=1.0)
            metrics.EVENTS_HANDLED.labels("auditor", "retry").inc(len(good))
            return
        for msg in good:
            await msg.ack()
        for ev in events:
            metrics.EVENTS_STORED.labels(event_type(ev)).inc()
        metrics.EVENTS_HANDLED.labels("auditor", "ok").inc(len(good))
        log.debug("stored %d new of %d event(s)", stored, len(events))

    def _store(self, events: list[AnyEvent]) -> int:
        """Append, then bring every projection up to date: one trip to a worker
        thread for the whole batch. How many events were new."""
        stored = self.store.append(events)
        for projector in self.projectors:
            projector.catch_up()
        return stored
