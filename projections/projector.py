"""Keeps the account projection up to date with the event store, and rebuilds it."""

from __future__ import annotations

import time
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
        views = {key: decode_view(body) for key, body in read_model.all(ACCOUNTS).items()}
        self.projection = AccountsProjection(views)
        self.position = read_model.position(ACCOUNTS)

    def catch_up(self, batch: int = 10_000) -> int:
        """Process every notification after the saved position; returns events applied."""
        applied = 0
        while True:
            chunk = self.store.read_events(self.position, batch)
            if not chunk:
                return applied
            for _, event in chunk:
                if event is not None:
                    self.projection.apply(event)
                    applied += 1
            position = chunk[-1][0]
            changed = self.projection.take_changed()
            self.read_model.save(ACCOUNTS, {k: encode_view(v).decode() for k, v in changed.items()},
                                 position)
            self.position = position


@dataclass(frozen=True)
class ReplayReport:
    """What ``tradehooks replay`` did."""

    events: int
    position: int
    accounts: int
    identical: bool
    seconds: float


def rebuild_accounts(
    store: EventStore, batch: int = 10_000
) -> tuple[dict[str, AccountView], int, int]:
    """Fold the whole store from the beginning into fresh views (nothing is written).

    Returns the views, the position they were built up to and the events applied.
    """
    projection = AccountsProjection()
    position = 0
    events = 0
    while chunk := store.read_events(position, batch):
        for _, event in chunk:
            if event is not None:
                projection.apply(event)
                events += 1
        position = chunk[-1][0]
    return projection.views, position, events


def replay_accounts(store: EventStore, read_model: ReadModel) -> ReplayReport:
    """Rebuild the account projection from scratch and replace the stored one."""
    started = time.perf_counter()
    before = read_model.all(ACCOUNTS)
    views, position, events = rebuild_accounts(store)
    bodies = {k: encode_view(v).decode() for k, v in views.items()}
    read_model.replace_all(ACCOUNTS, bodies, position)
    return ReplayReport(
        events=events, position=position, accounts=len(bodies),
        identical=before == bodies, seconds=time.perf_counter() - started,
    )
