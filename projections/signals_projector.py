"""Keeps the signal history up to date with the event store, and rebuilds it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from projections.projector import Progress
from projections.signal_store import SignalStore
from projections.signals import TYPES, SignalsProjection
from projections.store import EventStore


class SignalsProjector:
    """Applies stored events after the history's position, then saves atomically.

    Only rows of signals still in the pipeline are kept in memory; a row that is
    not is loaded from the tables when one of its events arrives.
    """

    def __init__(self, store: EventStore, signals: SignalStore) -> None:
        self.store = store
        self.signals = signals
        self.position = signals.position()

    def catch_up(self, batch: int = 2_000) -> int:
        """Process every notification after the saved position; returns events read.

        Each page starts from the saved rows: a failed save leaves nothing applied
        in memory that a retry could apply twice.
        """
        self.position = self.signals.position()
        read = 0
        while (page := self.store.read_page(self.position, batch, TYPES)).notifications:
            projection = SignalsProjection(self.signals.load(
                SignalsProjection().wanted(page.events)))
            for position, event in zip(page.positions, page.events, strict=True):
                projection.apply(position, event)
            rows, touches = projection.take_changed()
            self.signals.save(rows.values(), touches.values(), page.position)
            self.position = page.position
            read += page.recorded
        return read


@dataclass(frozen=True)
class SignalsReplayReport:
    """What ``tradehooks replay`` did to the signal history."""

    events: int
    position: int
    signals: int
    identical: bool
    seconds: float


def rebuild_signals(store: EventStore, batch: int = 10_000,
                    on_progress: Progress | None = None) -> tuple[SignalsProjection, int, int]:
    """Fold the whole store into fresh rows in memory (nothing is written)."""
    projection = SignalsProjection()
    apply = projection.apply
    position = events = 0
    while (page := store.read_page(position, batch, TYPES)).notifications:
        for at, event in zip(page.positions, page.events, strict=True):
            apply(at, event)
        events += page.recorded
        position = page.position
        if on_progress:
            on_progress(position, events)
    return projection, position, events


def replay_signals(store: EventStore, signals: SignalStore,
                   on_progress: Progress | None = None) -> SignalsReplayReport:
    """Rebuild the signal history from scratch and replace the stored one."""
    started = time.perf_counter()
    before = signals.dump()
    projection, position, events = rebuild_signals(store, on_progress=on_progress)
    signals.save(projection.rows.values(), projection.accounts.values(), position,
                 replace=True)
    return SignalsReplayReport(events=events, position=position,
                               signals=len(projection.rows),
                               identical=before == signals.dump(),
                               seconds=time.perf_counter() - started)
