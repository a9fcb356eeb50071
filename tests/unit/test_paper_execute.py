"""The paper broker's pure fill decision."""

from __future__ import annotations

from decimal import Decimal as D
from uuid import NAMESPACE_OID, uuid5

import pytest

from projections.ledger import Book, apply_fill
from services.brokers.base import BrokerRejected
from services.brokers.paper import PaperAccount, execute, fill_price
from tests.factories import NOW, make_order

ZERO = D(0)


def account(cash: str = "100000", **held: tuple[str, str]) -> PaperAccount:
    """A paper account holding ``symbol=(signed quantity, price)`` positions."""
    book = Book(cash=D(cash))
    for symbol, (quantity, price) in held.items():
        q = D(quantity)
        apply_fill(book, symbol, "buy" if q > 0 else "sell", abs(q), D(price))
    book.fills = 0
    return PaperAccount(book=book)


def rejection(state: PaperAccount, **order: object) -> BrokerRejected:
    with pytest.raises(BrokerRejected) as caught:
        execute(state, make_order(**order), ZERO, ZERO, NOW)
    return caught.value


def test_fill_price_moves_against_the_trader() -> None:
    assert fill_price(D(100), "buy", D(5)) == D("100.050000")
    assert fill_price(D(100), "sell", D(5)) == D("99.950000")
    assert fill_price(D(100), "buy", ZERO) == D(100)


def test_fill_price_rounds_half_up_to_six_places() -> None:
    assert fill_price(D("0.0000005"), "buy", ZERO) == D("0.000001")
    assert fill_price(D("1.2345674"), "sell", ZERO) == D("1.234567")
    assert str(fill_price(D(3), "buy", ZERO)) == "3.000000"


def test_buy_fills_with_slippage_and_fee() -> None:
    state = account("10000")

    fill = execute(state, make_order(quantity=D(2)), D(5), D(10), NOW)

    assert fill.side == "buy"
    assert fill.quantity == D(2)
    assert fill.average_price == D("100.05")
    assert fill.fee == D("0.200100")  # 200.10 * 10 bps
    assert fill.filled_at == NOW
    assert fill.position_quantity == D(2)
    assert fill.cash_after == D(10000) - D("200.10") - D("0.2001")
    assert fill.realised_pnl == 0
    assert state.book.cash == fill.cash_after
    assert state.book.fees_paid == D("0.2001")


def test_sell_from_flat_opens_a_short_below_the_reference() -> None:
    state = account("10000")

    fill = execute(state, make_order(side="sell", quantity=D(3), intent="enter_short"),
                   D(10), ZERO, NOW)

    assert fill.average_price == D("99.9")
    assert fill.position_quantity == D(-3)
    assert fill.cash_after == D(10000) + D("299.7")


def test_fill_ids_and_orders_map() -> None:
    state = account()
    order = make_order(client_order_id="bot-1714573800-abcdef01")

    fill = execute(state, order, ZERO, ZERO, NOW)

    assert fill.client_order_id == "bot-1714573800-abcdef01"
    assert fill.order_id == str(uuid5(NAMESPACE_OID, "bot-1714573800-abcdef01"))
    assert state.orders == {"bot-1714573800-abcdef01": fill}


def test_last_price_is_used_without_a_reference_price() -> None:
    state = account(AAPL=("1", "80"))

    fill = execute(state, make_order(reference_price=None, quantity=D(1)), ZERO, ZERO, NOW)

    assert fill.average_price == D(80)
    assert fill.position_quantity == D(2)


def test_close_position_flattens_a_long_whatever_the_quantity() -> None:
    state = account("0", AAPL=("4", "100"))  # cash -400 after the buy

    fill = execute(state, make_order(side="buy", quantity=D(1), close_position=True,
                                     intent="exit_long", reference_price=D(110)),
                   D(10), ZERO, NOW)

    assert fill.side == "sell"
    assert fill.quantity == D(4)
    assert fill.average_price == D("109.89")
    assert fill.position_quantity == 0
    assert fill.realised_pnl == D("39.56")  # (109.89 - 100) * 4
    assert fill.cash_after == D(-400) + D("439.56")
    assert "AAPL" not in state.book.positions


def test_close_position_flattens_a_short_by_buying() -> None:
    state = account("0", AAPL=("-2", "100"))

    fill = execute(state, make_order(side="sell", quantity=D(99), close_position=True,
                                     intent="exit_short", reference_price=D(90)),
                   ZERO, ZERO, NOW)

    assert fill.side == "buy"
    assert fill.quantity == D(2)
    assert fill.realised_pnl == D(20)
    assert fill.position_quantity == 0
    assert state.book.positions == {}


def test_close_position_is_not_limited_by_buying_power() -> None:
    state = account("0", AAPL=("-10", "100"))  # cash 1000, short marked at 100
    state.book.last_prices["AAPL"] = D(200)  # equity is now 1000 - 2000 < 0

    fill = execute(state, make_order(close_position=True, intent="exit_short",
                                     reference_price=None), ZERO, ZERO, NOW)

    assert fill.quantity == D(10)
    assert fill.realised_pnl == D(-1000)
    assert fill.cash_after == D(-1000)


def test_no_price_without_reference_or_last_price() -> None:
    state = account()

    error = rejection(state, reference_price=None)

    assert error.code == "no_price"
    assert "AAPL" in error.reason
    assert state.orders == {}
    assert state.book.cash == D(100_000)


@pytest.mark.parametrize("reference", [D(0), D(-5)])
def test_no_price_for_non_positive_reference(reference: D) -> None:
    assert rejection(account(), reference_price=reference).code == "no_price"


def test_zero_reference_falls_back_to_the_last_price() -> None:
    state = account(AAPL=("1", "50"))

    fill = execute(state, make_order(reference_price=D(0), quantity=D(1)), ZERO, ZERO, NOW)

    assert fill.average_price == D(50)


def test_closing_a_flat_symbol_is_no_position() -> None:
    state = account(TSLA=("1", "10"))

    error = rejection(state, close_position=True, intent="close")

    assert error.code == "no_position"
    assert state.orders == {}


@pytest.mark.parametrize("quantity", [D(0), D(-1)])
def test_non_positive_quantity_is_bad_quantity(quantity: D) -> None:
    error = rejection(account(), quantity=quantity)

    assert error.code == "bad_quantity"
    assert str(quantity) in error.reason


def test_buying_more_than_equity_is_refused() -> None:
    state = account("1000")

    error = rejection(state, quantity=D(11))

    assert error.code == "insufficient_buying_power"
    assert "1100.00" in error.reason
    assert "1000.00" in error.reason
    assert state.book.cash == D(1000)
    assert state.book.positions == {}
    assert state.orders == {}


def test_buying_exactly_equity_including_fee_is_allowed() -> None:
    state = account("1001")

    fill = execute(state, make_order(quantity=D(10)), ZERO, D(10), NOW)

    assert fill.fee == D(1)
    assert fill.cash_after == 0


def test_fee_counts_towards_buying_power() -> None:
    state = account("1000")

    with pytest.raises(BrokerRejected) as caught:
        execute(state, make_order(quantity=D(10)), ZERO, D(10), NOW)

    assert caught.value.code == "insufficient_buying_power"


def test_shorting_more_than_equity_is_refused() -> None:
    error = rejection(account("500"), side="sell", intent="enter_short", quantity=D(6))

    assert error.code == "insufficient_buying_power"


def test_reducing_a_position_is_not_limited_by_equity() -> None:
    state = account("0", AAPL=("5", "100"))  # cash -500, equity 0

    fill = execute(state, make_order(side="sell", intent="sell", quantity=D(2)), ZERO, ZERO, NOW)

    assert fill.position_quantity == D(3)
    assert fill.cash_after == D(-300)
