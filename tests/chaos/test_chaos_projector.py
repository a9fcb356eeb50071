"""A read-model save that fails (the database went away) must not apply events twice.

Found by the PostgreSQL-outage fault test: the auditor's projector applied a page
of events to its views in memory, the save failed, and the retry applied the same
page again on top — the live account projection no longer equalled a rebuild.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from projections.projector import ACCOUNTS, AccountsProjector, rebuild_accounts
from projections.readmodel import SQLiteReadModel
from projections.store import open_store
from tests.factories import make_account_opened, make_fill, make_trade_executed

pytestmark = pytest.mark.chaos


class FlakyReadModel(SQLiteReadModel):
    """A SQLite read model whose next ``fail`` saves raise, as a lost connection does."""

    fail = 0

    def save(self, projection: str, bodies: dict[str, str], position: int) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("the read model's database went away")
        super().save(projection, bodies, position)


def test_a_failed_save_is_retried_without_applying_the_events_twice(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'events.sqlite'}")
    views = FlakyReadModel(str(tmp_path / "views.sqlite"))
    try:
        store.append([make_account_opened(signal_id="account:acc-1", event_id="open")])
        projector = AccountsProjector(store, views)
        projector.catch_up()
        store.append([make_trade_executed(signal_id=f"s-{i}", event_id=f"fill-{i}",
                                          fill=make_fill(client_order_id=f"c-{i}"))
                      for i in range(3)])
        views.fail = 1
        with pytest.raises(ConnectionError):
            projector.catch_up()
        assert projector.catch_up() >= 3  # the retry, once the database is back

        rebuilt, _, _ = rebuild_accounts(store)
        saved = AccountsProjector(store, views).projection.views
        assert saved == rebuilt
        assert saved["acc-1"].book.fills == 3
        assert saved["acc-1"].book.positions["AAPL"].quantity == Decimal(30)
        assert views.position(ACCOUNTS) == store.max_position()
    finally:
        views.close()
        store.close()
