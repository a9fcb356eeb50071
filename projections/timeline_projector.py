"""Keeps the timeline up to date with the event store, and answers "as of" questions.

The auditor runs :class:`TimelineProjector` beside the other projectors: each page
of new events adds one index row per account event and a snapshot every
:data:`~projections.timeline.SNAPSHOT_EVERY` events of an account, saved with the
position in one transaction. :func:`state_at` folds the newest snapshot at or before
the asked position and the account's events after it (read from the store by
position), then whatever the timeline has not indexed yet, from the store itself.
"""

from __future__ import annotations

from projections.store import EventStore
from projections.timeline import (
    SNAPSHOT_EVERY,
    STRATEGY_KEY,
    TYPES,
    AccountAt,
    account_of,
    apply,
    decode,
    encode,
    new_state,
    strategy_key,
)
from projections.timeline import instant as at_instant
from projections.timeline_store import IndexRow, Snapshot, TimelineStore


class TimelineProjector:
    """Indexes every account event and snapshots each account every ``every`` events."""

    def __init__(self, store: EventStore, timeline: TimelineStore,
                 every: int = SNAPSHOT_EVERY) -> None:
        self.store = store
        self.timeline = timeline
        self.every = every
        self.states: dict[str, AccountAt] = {}
        self.position = timeline.position()

    def catch_up(self, batch: int = 10_000) -> int:
        """Index every notification after the saved position; returns events read.

        A failed save leaves states in memory ahead of the saved position: they are
        dropped, and the next try starts again from what was saved.
        """
        try:
            return self._catch_up(batch)
        except BaseException:
            self.states = {}
            self.position = self.timeline.position()
            raise

    def _catch_up(self, batch: int) -> int:
        read = 0
        while (page := self.store.read_page(self.position, batch, TYPES)).notifications:
            index: list[IndexRow] = []
            snapshots: list[Snapshot] = []
            for position, event in zip(page.positions, page.events, strict=True):
                strategy = strategy_key(event)
                if strategy:
                    index.append((strategy, position, at_instant(event.occurred_at)))
                    continue
                account = account_of(event)
                if not account:
                    continue
                state = self._state(account, event.tenant_id)
                apply(state, event, position)
                index.append((account, position, state.occurred_at))
                if state.events % self.every == 0:
                    snapshots.append((account, position, encode(state).decode()))
            self.timeline.save(index, snapshots, page.position)
            self.position = page.position
            read += page.recorded
        return read

    def _state(self, account: str, tenant_id: str) -> AccountAt:
        state = self.states.get(account)
        if state is None:
            # The account as saved up to this projector's position (a restart, or the
            # first event of the account this process sees).
            state = state_at(self.store, self.timeline, account, self.position) \
                or new_state(account, tenant_id)
            self.states[account] = state
        return state


def state_at(store: EventStore, timeline: TimelineStore, account: str,
             position: int) -> AccountAt | None:
    """The account after every one of its events stored at or before ``position``
    (None when it had none)."""
    indexed = timeline.position()
    upto = min(position, indexed)
    snapshot = timeline.latest_snapshot(account, upto)
    state = decode(snapshot[1]) if snapshot else None
    after = snapshot[0] if snapshot else 0
    for pos, event in store.events_at(timeline.positions(account, after, upto)):
        state = state or new_state(account, event.tenant_id)
        apply(state, event, pos)
    cursor = max(indexed, after)
    while cursor < position:  # the tail the timeline has not indexed yet
        page = store.read_page(cursor, 10_000, TYPES)
        if not page.notifications:
            break
        for pos, event in zip(page.positions, page.events, strict=True):
            if pos <= position and account_of(event) == account:
                state = state or new_state(account, event.tenant_id)
                apply(state, event, pos)
        cursor = page.position
    return state


def position_at_time(store: EventStore, timeline: TimelineStore, account: str,
                     instant: str) -> int | None:
    """Position of the account's latest stored event (by the time it occurred, then by
    position) that occurred at or before ``instant`` (see
    :func:`projections.timeline.instant`); None if none did."""
    indexed = timeline.position()
    best = timeline.position_at(account, instant)
    cursor = indexed
    while True:  # the tail the timeline has not indexed yet
        page = store.read_page(cursor, 10_000, TYPES)
        if not page.notifications:
            return best[1] if best else None
        for pos, event in zip(page.positions, page.events, strict=True):
            if account_of(event) == account:
                when = at_instant(event.occurred_at)
                if when <= instant and (best is None or (when, pos) >= best):
                    best = (when, pos)
        cursor = page.position


def strategy_position(store: EventStore, timeline: TimelineStore, strategy_id: str,
                      moment: int | str) -> int | None:
    """Position of the strategy's last registry event at or before ``moment`` (a store
    position, or a time as :func:`projections.timeline.instant` writes it)."""
    key = STRATEGY_KEY + strategy_id
    indexed = timeline.position()
    if isinstance(moment, int):
        best: tuple[str, int] | None = None
        last = timeline.last_position(key, min(moment, indexed))
        found = last
    else:
        best = timeline.position_at(key, moment)
        found = best[1] if best else None
    cursor = indexed
    limit = moment if isinstance(moment, int) else None
    while limit is None or cursor < limit:  # the tail the timeline has not indexed yet
        page = store.read_page(cursor, 10_000, TYPES)
        if not page.notifications:
            break
        for pos, event in zip(page.positions, page.events, strict=True):
            if strategy_key(event) != key or (limit is not None and pos > limit):
                continue
            when = at_instant(event.occurred_at)
            if isinstance(moment, int):
                found = pos
            elif when <= moment and (best is None or (when, pos) >= best):
                best, found = (when, pos), pos
        cursor = page.position
    return found
