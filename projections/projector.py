"""Keeps the account projection up to date with the event store, and rebuilds it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from projections.accounts import AccountsProjection, AccountView, decode_view, encode_view
from projections.readmodel import ReadModel
from projections.store import EventStore

ACCOUNTS = "accounts"


class AccountsProjector:
    """Applies stored events after the read model's position, then saves atomically."""

    def __init__(self, store: EventStore, read_model: ReadModel) -> None:
        self.store = store
        self.read_model = read_model
        self._load()

    def _load(self) -> None:
        """The views and position as saved (in memory, nothing applied unsaved)."""
        views = {key: decode_view(body) for key, body in self.read_model.all(ACCOUNTS).items()}
        self.projection = AccountsProjection(views)
        self.position = self.read_model.position(ACCOUNTS)
        self._stale = False

    def catch_up(self, batch: int = 10_000) -> int:
        """Process every notification after the saved position; returns events read.

        If a save fails, the views in memory hold events the saved position does
        not: they are dropped and reloaded before the next try, or the retry would
        apply those events a second time.
        """
        if self._stale:
            self._load()
        try:
            return self._catch_up(batch)
        except BaseException:
            self._stale = True
            raise

    def _catch_up(self, batch: int) -> int:
        read = 0
        while (page := self.store.read_page(self.position, batch, AccountsProjection.TYPES)
               ).notifications:
            for event in page.events:
                self.projection.apply(event)
            read += page.recorded
            changed = self.projection.take_changed()
            self.read_model.save(ACCOUNTS, {k: encode_view(v).decode() for k, v in changed.items()},
                                 page.position)
            self.position = page.position
        return read


@dataclass(frozen=True)
class ReplayReport:
    """What ``tradehooks replay`` did."""

    events: int
    position: int
    accounts: int
    identical: bool
    seconds: float


# Called after each page with the position reached and the events applied so far.
Progress = Callable[[int, int], None]


def rebuild_accounts(
    store: EventStore, batch: int = 10_000, on_progress: Progress | None = None,
) -> tuple[dict[str, AccountView], int, int]:
    """Fold the whole store from the beginning into fresh views (nothing is written).

    Returns the views, the position they were built up to and the pipeline events
    read (only the types the projection uses are decoded and applied).
    """
    projection = AccountsProjection()
    apply = projection.apply  # bound once: this loop runs once per stored event
    position = 0
    events = 0
    while (page := store.read_page(position, batch, AccountsProjection.TYPES)).notifications:
        for event in page.events:
            apply(event)
        events += page.recorded
        position = page.position
        if on_progress:
            on_progress(position, events)
    return projection.views, position, events


def replay_accounts(store: EventStore, read_model: ReadModel,
                    on_progress: Progress | None = None) -> ReplayReport:
    """Rebuild the account projection from scratch and replace the stored one."""
    started = time.perf_counter()
    before = read_model.all(ACCOUNTS)
    views, position, events = rebuild_accounts(store, on_progress=on_progress)
    bodies = {k: encode_view(v).decode() for k, v in views.items()}
    read_model.replace_all(ACCOUNTS, bodies, position)
    return ReplayReport(
        events=events, position=position, accounts=len(bodies),
        identical=before == bodies, seconds=time.perf_counter() - started,
    )
