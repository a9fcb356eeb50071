"""The event store (eventsourcing Application) on SQLite or PostgreSQL."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import get_topic

from contracts.events import (
    AnyEvent,
    WebhookReceived,
    event_from_builtins,
    event_to_builtins,
    event_type,
)
from projections.chain import upgrade_chain
from projections.fastread import (
    can_decode_fast,
    decode_body,
    decode_recorded,
    peek_recorded,
    select_rows,
    select_rows_at,
)
from projections.persistence import created_concurrently, eventsourcing_env, parse_store_url
from projections.trails import Trail

log = logging.getLogger(__name__)

# The class the @event decorator generated for Trail.record.
_RECORDED: Any = getattr(Trail, "Recorded")  # noqa: B009 - made at runtime
RECORDED_TOPIC = get_topic(_RECORDED)
# Only the body of a Recorded event is read back, never its trail id or version.
_NO_ID = UUID(int=0)


@dataclass(frozen=True)
class Page:
    """One page of the notification log, as :meth:`EventStore.read_page` reads it."""

    position: int  # of its last notification (``after`` when empty)
    notifications: int  # rows read, bookkeeping included; 0 at the end of the log
    recorded: int  # pipeline events among them, of any type
    events: list[AnyEvent]  # those of the requested types, in order
    positions: list[int] = field(default_factory=list)  # of each of ``events``


class EventStore(Application[UUID]):
    """Append-only store of every event, grouped in per-signal trails."""

    name = "tradehooks"
    # How many recently written trails :meth:`append` keeps in memory: a signal's
    # events arrive within a second or so, so 2,048 cover several seconds at 400
    # signals/s (~6 KB each: 4,096 held the auditor above 120 MB at that rate).
    recent_trails = 2048

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The trails append wrote last, by correlation id, oldest first.
        self._recent: OrderedDict[str, Trail] = OrderedDict()

    def append(self, events: Sequence[AnyEvent]) -> int:
        """Store events not stored before, atomically; returns how many were new.

        Raises eventsourcing's IntegrityError if another writer saved the same trail
        concurrently; the caller retries (the message is redelivered).

        The trails written recently stay in memory (a signal's five or so events
        arrive in different batches): rebuilding a trail from its stored events for
        every batch was a third of the auditor's CPU. A kept trail cannot go stale
        unnoticed: if another writer extended it, saving after it conflicts on its
        version; the batch's trails are then read afresh and it is tried once more.

        A ``webhook.received`` starts its signal's trail without looking for it in
        the store (it is the signal's first event; the look was an eighth of the
        auditor's CPU). If the trail was there after all (a redelivery the store
        already holds), saving conflicts the same way and the retry reads it.
        """
        kept = not self._recent.keys().isdisjoint(ev.signal_id for ev in events)
        started = any(isinstance(ev, WebhookReceived) and ev.signal_id not in self._recent
                      for ev in events)
        try:
            return self._append(events, start_received=True)
        except IntegrityError:
            if not (kept or started):
                raise
            # The failed try dropped the trails it used: this one reads them all.
            return self._append(events, start_received=False)

    def _append(self, events: Sequence[AnyEvent], start_received: bool = False) -> int:
        """One try of :meth:`append`; keeps the trails it wrote, drops them on failure.
        ``start_received``: a ``webhook.received`` starts a new trail unread."""
        trails: dict[str, Trail] = {}
        # Domain events in the order of the batch (which is stream order), not
        # grouped per trail: the notification log must replay in stream order.
        ordered: list[Any] = []
        try:
            for ev in events:
                trail = trails.get(ev.signal_id) or self._load_or_start(
                    ev.signal_id, start_received and isinstance(ev, WebhookReceived))
                trails[ev.signal_id] = trail
                if trail.has(ev.event_id):
                    continue
                trail.record(event_id=ev.event_id, event_type=event_type(ev),
                             body=event_to_builtins(ev))
                ordered.extend(trail.collect_events())
            if ordered:
                # Straight into the event store: Application.save would check every
                # event against a runtime protocol (a tenth of the auditor's CPU) and
                # then do nothing more for this application (no snapshots, no
                # aggregate cache, no listeners).
                self.events.put(ordered)
        except BaseException:
            for correlation_id in trails:  # changed in memory, perhaps not stored
                self._recent.pop(correlation_id, None)
            raise
        for correlation_id, trail in trails.items():
            self._recent[correlation_id] = trail
            self._recent.move_to_end(correlation_id)
        while len(self._recent) > self.recent_trails:
            self._recent.popitem(last=False)
        return sum(1 for item in ordered if isinstance(item, _RECORDED))

    def _load_or_start(self, correlation_id: str, new: bool = False) -> Trail:
        """The kept trail, else (``new``: without looking) a new one, else the stored
        one or a new one."""
        kept = self._recent.get(correlation_id)
        if kept is not None:
            return kept
        if new:
            return Trail(correlation_id)
        try:
            trail: Trail = self.repository.get(Trail.create_id(correlation_id))
        except AggregateNotFoundError:
            trail = Trail(correlation_id)
        return trail

    def trail(self, signal_id: str) -> list[dict[str, Any]] | None:
        """Every stored event of a signal, in order, or None if none is stored."""
        try:
            trail: Trail = self.repository.get(Trail.create_id(signal_id))
        except AggregateNotFoundError:
            return None
        return list(trail.entries)

    def max_position(self) -> int:
        """Position of the newest notification (0 for an empty store)."""
        return int(self.recorder.max_notification_id() or 0)

    def read_events(self, after: int, limit: int = 1000) -> list[tuple[int, AnyEvent | None]]:
        """Notifications after position ``after``, oldest first.

        Each is paired with its pipeline event, or None for bookkeeping
        notifications (a trail being started) that still advance the position.
        """
        fast = can_decode_fast(self.mapper)
        out: list[tuple[int, AnyEvent | None]] = []
        for nid, topic, state in select_rows(self.recorder, after, limit):
            if topic != RECORDED_TOPIC:
                out.append((nid, None))
                continue
            event = decode_recorded(state) if fast else None
            if event is None:  # the general path (see projections.fastread)
                event = self._decode_slowly(topic, state)
            out.append((nid, event))
        return out

    def read_page(self, after: int, limit: int,
                  types: Collection[str] | None = None) -> Page:
        """Up to ``limit`` notifications after ``after``: the pipeline events among them
        whose type is in ``types`` (every one when None), decoding only those."""
        fast = can_decode_fast(self.mapper)
        rows = select_rows(self.recorder, after, limit)
        events: list[AnyEvent] = []
        positions: list[int] = []
        recorded = 0
        for nid, topic, state in rows:
            if topic != RECORDED_TOPIC:
                continue
            recorded += 1
            peeked = peek_recorded(state) if fast else None
            if peeked is not None and types is not None and peeked[0] not in types:
                continue
            event = decode_body(peeked[1]) if peeked is not None else None
            if event is None:  # the general path (see projections.fastread)
                event = self._decode_slowly(topic, state)
            if types is None or event_type(event) in types:
                events.append(event)
                positions.append(nid)
        position = rows[-1][0] if rows else after
        return Page(position=position, notifications=len(rows), recorded=recorded,
                    events=events, positions=positions)

    def events_at(self, positions: list[int]) -> list[tuple[int, AnyEvent]]:
        """The pipeline events stored at ``positions`` (sorted), in store order."""
        fast = can_decode_fast(self.mapper)
        out: list[tuple[int, AnyEvent]] = []
        for nid, topic, state in select_rows_at(self.recorder, positions):
            if topic != RECORDED_TOPIC:
                continue
            event = decode_recorded(state) if fast else None
            out.append((nid, event if event is not None else self._decode_slowly(topic, state)))
        return out

    def _decode_slowly(self, topic: str, state: bytes) -> AnyEvent:
        """The event of one ``Trail.Recorded`` row, decoded by eventsourcing's mapper."""
        stored = StoredEvent(originator_id=_NO_ID, originator_version=0, topic=topic,
                             state=state)
        domain_event: Any = self.mapper.to_domain_event(stored)
        return event_from_builtins(domain_event.body)

    def iter_events(self, after: int = 0, batch: int = 5000) -> Iterator[tuple[int, AnyEvent]]:
        """Every stored pipeline event after ``after``, in store order."""
        position = after
        while True:
            chunk = self.read_events(position, batch)
            if not chunk:
                return
            for nid, ev in chunk:
                position = nid
                if ev is not None:
                    yield nid, ev


def open_store(url: str, upgrade: bool = True) -> EventStore:
    """Open (and create the tables of) the event store at ``url``.

    ``upgrade`` links the events a store without a tamper-evidence chain already
    holds (see projections.chain; a no-op once they are linked).
    """
    env = eventsourcing_env(parse_store_url(url))
    store = created_concurrently(lambda: EventStore(env=env))
    if upgrade:
        linked = upgrade_chain(store.recorder)
        if linked:
            log.info("linked %d stored event(s) into the tamper-evidence chain", linked)
    return store
