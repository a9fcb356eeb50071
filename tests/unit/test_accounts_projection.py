"""The account projection folds registry and fill events into views."""

from __future__ import annotations

from decimal import Decimal as D

from domain.ledger import Book
from projections.accounts import (
    AccountsProjection,
    AccountView,
    decode_view,
    encode_view,
    view_to_api,
)
from tests.factories import (
    ACCOUNT_ID,
    TENANT_ID,
    make_account_opened,
    make_failed,
    make_fill,
    make_received,
    make_strategy_registered,
    make_trade_executed,
)


def executed(side: str, quantity: str, price: str, fee: str = "0", symbol: str = "AAPL",
             **overrides: object) -> object:
    fill = make_fill(side=side, symbol=symbol, quantity=D(quantity), average_price=D(price),
                     fee=D(fee))
    return make_trade_executed(fill=fill, **overrides)


def test_account_opened_creates_a_view_with_starting_cash() -> None:
    projection = AccountsProjection()

    projection.apply(make_account_opened(currency="EUR", starting_cash=D(5000), name="Euro"))

    view = projection.views[ACCOUNT_ID]
    assert view.account_id == ACCOUNT_ID
    assert view.tenant_id == TENANT_ID
    assert view.name == "Euro"
    assert view.broker == "paper"
    assert view.book.currency == "EUR"
    assert view.book.cash == D(5000)
    assert view.book.fills == 0


def test_trades_move_cash_positions_and_pnl() -> None:
    projection = AccountsProjection()
    projection.apply(make_account_opened(starting_cash=D(10_000)))

    projection.apply(executed("buy", "10", "100", fee="1"))
    projection.apply(executed("sell", "4", "110", fee="1"))

    book = projection.views[ACCOUNT_ID].book
    assert book.cash == D(10_000) - D(1000) - D(1) + D(440) - D(1)
    assert book.position_quantity("AAPL") == D(6)
    assert book.positions["AAPL"].average_price == D(100)
    assert book.realised_pnl == D(40)
    assert book.fees_paid == D(2)
    assert book.fills == 2


def test_replaying_the_same_trade_applies_it_again() -> None:
    # De-duplication happens upstream; the fold itself is a plain fold.
    projection = AccountsProjection()
    projection.apply(make_account_opened(starting_cash=D(1000)))
    event = executed("buy", "1", "100")

    projection.apply(event)
    projection.apply(event)

    assert projection.views[ACCOUNT_ID].book.position_quantity("AAPL") == D(2)
    assert projection.views[ACCOUNT_ID].book.cash == D(800)


def test_a_second_account_opened_does_not_reset_the_account() -> None:
    projection = AccountsProjection()
    projection.apply(make_account_opened(starting_cash=D(1000)))
    projection.apply(executed("buy", "1", "100"))
    projection.take_changed()

    projection.apply(make_account_opened(starting_cash=D(99_999)))

    assert projection.views[ACCOUNT_ID].book.cash == D(900)
    assert projection.take_changed() == {}


def test_a_fill_for_an_unopened_account_starts_from_zero_cash() -> None:
    projection = AccountsProjection()

    projection.apply(executed("buy", "2", "50", account_id="acc-x", tenant_id="other"))

    view = projection.views["acc-x"]
    assert view.tenant_id == "other"
    assert view.broker == "paper"
    assert view.book.cash == D(-100)
    assert view.book.position_quantity("AAPL") == D(2)


def test_other_events_are_ignored() -> None:
    projection = AccountsProjection()

    for event in (make_received(), make_failed(), make_strategy_registered()):
        projection.apply(event)

    assert projection.views == {}
    assert projection.take_changed() == {}


def test_take_changed_returns_changed_views_once() -> None:
    projection = AccountsProjection()
    projection.apply(make_account_opened())
    projection.apply(make_account_opened(account_id="acc-2"))

    first = projection.take_changed()
    assert set(first) == {ACCOUNT_ID, "acc-2"}
    assert first[ACCOUNT_ID] is projection.views[ACCOUNT_ID]
    assert projection.take_changed() == {}

    projection.apply(executed("buy", "1", "1", account_id="acc-2"))
    assert set(projection.take_changed()) == {"acc-2"}


def test_existing_views_are_continued() -> None:
    view = AccountView(account_id=ACCOUNT_ID, tenant_id=TENANT_ID, book=Book(cash=D(500)))
    projection = AccountsProjection({ACCOUNT_ID: view})

    projection.apply(executed("buy", "1", "100"))

    assert projection.views[ACCOUNT_ID].book.cash == D(400)
    assert projection.changed == {ACCOUNT_ID}


def test_view_encode_decode_round_trip() -> None:
    projection = AccountsProjection()
    projection.apply(make_account_opened(starting_cash=D("1000.25")))
    projection.apply(executed("buy", "0.5", "100.10", fee="0.01"))
    projection.apply(executed("sell", "2", "30", symbol="TSLA"))
    view = projection.views[ACCOUNT_ID]

    data = encode_view(view)
    decoded = decode_view(data)

    assert decoded == view
    assert decode_view(data.decode()) == view
    # Exact decimals, digits and all (a float on the way would lose them).
    assert str(decoded.book.cash) == str(view.book.cash) == "1010.190"


def test_view_to_api_shows_strings_and_sorted_positions() -> None:
    projection = AccountsProjection()
    projection.apply(make_account_opened(starting_cash=D(1000), name="Main"))
    projection.apply(executed("buy", "2", "100", symbol="ZM"))
    projection.apply(executed("sell", "1", "50", symbol="AAPL", fee="0.5"))
    view = projection.views[ACCOUNT_ID]
    view.book.last_prices["ZM"] = D(110)

    body = view_to_api(view)

    assert body == {
        "account_id": ACCOUNT_ID,
        "tenant_id": TENANT_ID,
        "name": "Main",
        "broker": "paper",
        "currency": "USD",
        "cash": "849.5",
        "equity": "1019.5",  # 849.5 + 2*110 - 1*50
        "realised_pnl": "0",
        "unrealised_pnl": "20",  # ZM: (110 - 100) * 2
        "buying_power": "1019.5",
        "fees_paid": "0.5",
        "fills": 2,
        "positions": [
            {"symbol": "AAPL", "quantity": "-1", "average_price": "50", "last_price": "50",
             "unrealised_pnl": "0"},
            {"symbol": "ZM", "quantity": "2", "average_price": "100", "last_price": "110",
             "unrealised_pnl": "20"},
        ],
    }
