"""The paper broker's pure decisions: fills, resting orders and price observations."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import msgspec
import pytest

from contracts.orders import BrokerOrder, Fill, OrderRequest
from domain.ledger import Book, apply_fill
from libs.brokers.base import BrokerRejected
from libs.brokers.paper import (
    PaperAccount,
    _trigger_price,
    crosses,
    execute,
    fill_price,
    observe_price,
)
from tests.factories import NOW, make_broker_order, make_order

ZERO = D(0)


def account(cash: str = "100000", **held: tuple[str, str]) -> PaperAccount:
    """A paper account holding ``symbol=(signed quantity, price)`` positions."""
    book = Book(cash=D(cash))
    for symbol, (quantity, price) in held.items():
        q = D(quantity)
        apply_fill(book, symbol, "buy" if q > 0 else "sell", abs(q), D(price))
    book.fills = 0
    return PaperAccount(book=book)


def filled(result: BrokerOrder) -> Fill:
    """The fill of an order that must have filled."""
    assert result.status == "filled", result
    assert result.fill is not None
    return result.fill


def run(state: PaperAccount, order: OrderRequest, slippage_bps: D = ZERO,
        fee_bps: D = ZERO) -> Fill:
    """Execute an order that must fill at once; its fill."""
    return filled(execute(state, order, slippage_bps, fee_bps, NOW))


def rejection(state: PaperAccount, market: D | None = None,
              **order: object) -> BrokerRejected:
    with pytest.raises(BrokerRejected) as caught:
        execute(state, make_order(**order), ZERO, ZERO, NOW, market_price=market)
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

    result = execute(state, make_order(quantity=D(2)), D(5), D(10), NOW)
    fill = filled(result)

    assert (result.status, result.order_type, result.quantity) == ("filled", "market", D(2))
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

    fill = run(state, make_order(side="sell", quantity=D(3), intent="enter_short"), D(10))

    assert fill.average_price == D("99.9")
    assert fill.position_quantity == D(-3)
    assert fill.cash_after == D(10000) + D("299.7")


def test_fill_ids_and_orders_map() -> None:
    state = account()
    order = make_order(client_order_id="bot-1714573800-abcdef01")

    result = execute(state, order, ZERO, ZERO, NOW)
    fill = filled(result)

    assert result.client_order_id == fill.client_order_id == "bot-1714573800-abcdef01"
    assert result.order_id and fill.order_id == result.order_id
    # The broker's id follows from the client order id alone: the same order placed
    # on another account (or again, after a restart) gets the same id, another order
    # another id.
    assert execute(account(), order, ZERO, ZERO, NOW).order_id == result.order_id
    other = execute(account(), make_order(client_order_id="bot-1714573800-abcdef02"),
                    ZERO, ZERO, NOW)
    assert other.order_id != result.order_id
    assert (result.order_type, result.submitted_at, result.reason) == ("market", NOW, "")
    assert state.orders == {"bot-1714573800-abcdef01": result}


def test_last_price_is_used_without_a_reference_price() -> None:
    state = account(AAPL=("1", "80"))

    fill = run(state, make_order(reference_price=None, quantity=D(1)))

    assert fill.average_price == D(80)
    assert fill.position_quantity == D(2)


def test_close_position_flattens_a_long_whatever_the_quantity() -> None:
    state = account("0", AAPL=("4", "100"))  # cash -400 after the buy

    fill = run(state, make_order(side="buy", quantity=D(1), close_position=True,
                                 intent="exit_long", reference_price=D(110)), D(10))

    assert fill.side == "sell"
    assert fill.quantity == D(4)
    assert fill.average_price == D("109.89")
    assert fill.position_quantity == 0
    assert fill.realised_pnl == D("39.56")  # (109.89 - 100) * 4
    assert fill.cash_after == D(-400) + D("439.56")
    assert "AAPL" not in state.book.positions


def test_close_position_flattens_a_short_by_buying() -> None:
    state = account("0", AAPL=("-2", "100"))

    fill = run(state, make_order(side="sell", quantity=D(99), close_position=True,
                                 intent="exit_short", reference_price=D(90)))

    assert fill.side == "buy"
    assert fill.quantity == D(2)
    assert fill.realised_pnl == D(20)
    assert fill.position_quantity == 0
    assert state.book.positions == {}


def test_close_position_is_not_limited_by_buying_power() -> None:
    state = account("0", AAPL=("-10", "100"))  # cash 1000, short marked at 100
    state.book.last_prices["AAPL"] = D(200)  # equity is now 1000 - 2000 < 0

    fill = run(state, make_order(close_position=True, intent="exit_short",
                                 reference_price=None))

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

    fill = run(state, make_order(reference_price=D(0), quantity=D(1)))

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

    fill = run(state, make_order(quantity=D(10)), fee_bps=D(10))

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

    fill = run(state, make_order(side="sell", intent="sell", quantity=D(2)))

    assert fill.position_quantity == D(3)
    assert fill.cash_after == D(-300)


# --- flips ----------------------------------------------------------------------------


def test_selling_twice_the_long_flips_to_a_short_and_realises_the_closed_part() -> None:
    state = account("100000", AAPL=("10", "100"))  # cash 99 000

    fill = run(state, make_order(side="sell", quantity=D(20), close_quantity=D(10),
                                 intent="enter_short", reference_price=D(110)))

    assert (fill.side, fill.quantity, fill.average_price) == ("sell", D(20), D(110))
    assert fill.position_quantity == D(-10)
    assert fill.realised_pnl == D(100)  # (110 - 100) * 10 closed; the new short realises 0
    assert fill.cash_after == D(99_000) + D(2_200)
    position = state.book.positions["AAPL"]
    assert (position.quantity, position.average_price) == (D(-10), D(110))
    assert state.book.realised_pnl == D(100)


def test_buying_twice_the_short_flips_to_a_long() -> None:
    state = account("100000", AAPL=("-5", "100"))

    fill = run(state, make_order(side="buy", quantity=D(10), close_quantity=D(5),
                                 intent="enter_long", reference_price=D(90)))

    assert fill.position_quantity == D(5)
    assert fill.realised_pnl == D(50)  # the short gained 10 on each of 5
    position = state.book.positions["AAPL"]
    assert (position.quantity, position.average_price) == (D(5), D(90))


def test_a_flip_needs_buying_power_only_for_the_part_it_opens() -> None:
    state = account("2000", AAPL=("10", "100"))  # cash 1000, equity 2000
    flip = {"side": "sell", "close_quantity": D(10), "intent": "enter_short"}

    # Closing 10 and opening 21 short needs 2100 of the 2000 equity...
    assert rejection(state, quantity=D(31), **flip).code == "insufficient_buying_power"
    assert state.book.position_quantity("AAPL") == D(10)
    # ...opening 20 short needs exactly the equity.
    assert run(state, make_order(quantity=D(30), **flip)).position_quantity == D(-20)


# --- crosses / _trigger_price ---------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "kind", "price", "expected"),
    [
        ("buy", "limit", D(99), True),
        ("buy", "limit", D(100), True),
        ("buy", "limit", D("100.000001"), False),
        ("sell", "limit", D(101), True),
        ("sell", "limit", D(100), True),
        ("sell", "limit", D("99.999999"), False),
        ("buy", "stop", D(101), True),
        ("buy", "stop", D(100), True),
        ("buy", "stop", D("99.999999"), False),
        ("sell", "stop", D(99), True),
        ("sell", "stop", D(100), True),
        ("sell", "stop", D("100.000001"), False),
    ],
)
def test_crosses_at_or_beyond_the_trigger(side: str, kind: str, price: D,
                                          expected: bool) -> None:
    order = make_broker_order(side=side, order_type=kind,
                              limit_price=D(100) if kind == "limit" else None,
                              stop_price=D(100) if kind == "stop" else None)

    assert crosses(order, price) is expected


@pytest.mark.parametrize(
    ("kind", "limit", "stop"),
    [("market", None, None), ("limit", None, D(100)), ("stop", D(100), None)],
    ids=["market", "limit-without-limit-price", "stop-without-stop-price"],
)
def test_orders_without_their_trigger_never_cross(kind: str, limit: D | None,
                                                  stop: D | None) -> None:
    order = make_broker_order(order_type=kind, limit_price=limit, stop_price=stop)

    assert not crosses(order, D(1))
    assert not crosses(order, D(1_000_000))


@pytest.mark.parametrize(
    ("side", "kind", "market", "expected"),
    [
        ("buy", "limit", D(98), D(98)),  # better than the limit, and no slippage
        ("buy", "limit", D(100), D(100)),
        ("sell", "limit", D(103), D(103)),
        ("sell", "limit", D(100), D(100)),
        ("buy", "stop", D(101), D("101.101")),  # a triggered stop is a market order
        ("sell", "stop", D(99), D("98.901")),
    ],
)
def test_trigger_price(side: str, kind: str, market: D, expected: D) -> None:
    order = make_broker_order(side=side, order_type=kind,
                              limit_price=D(100) if kind == "limit" else None,
                              stop_price=D(100) if kind == "stop" else None)

    assert _trigger_price(order, market, D(10)) == expected


def test_trigger_price_rounds_half_up_to_six_places() -> None:
    order = make_broker_order(limit_price=D(100))

    assert str(_trigger_price(order, D("99.1234565"), ZERO)) == "99.123457"


# --- execute: limit and stop orders ---------------------------------------------------


def test_a_limit_buy_below_the_market_rests() -> None:
    state = account()

    result = execute(state, make_order(order_type="limit", limit_price=D(95)), D(10), D(10),
                     NOW, market_price=D(100))

    assert result.status == "open"
    assert result.fill is None
    assert (result.order_type, result.limit_price, result.stop_price) == ("limit", D(95), None)
    assert (result.quantity, result.submitted_at, result.reason) == (D(10), NOW, "")
    assert result.order_id == execute(account(), make_order(), ZERO, ZERO, NOW).order_id
    assert state.orders == {result.client_order_id: result}
    assert state.book.cash == D(100_000)
    assert state.book.positions == {}
    assert state.book.fills == 0
    assert state.book.last_prices == {"AAPL": D(100)}  # the market price is remembered


@pytest.mark.parametrize(
    ("side", "kind", "trigger"),
    [
        ("buy", "limit", D("99.99")),
        ("sell", "limit", D("100.01")),
        ("buy", "stop", D("100.01")),
        ("sell", "stop", D("99.99")),
    ],
)
def test_orders_not_crossed_by_the_last_price_rest(side: str, kind: str, trigger: D) -> None:
    state = account()
    order = make_order(side=side, order_type=kind,
                       limit_price=trigger if kind == "limit" else None,
                       stop_price=trigger if kind == "stop" else None)

    result = execute(state, order, ZERO, ZERO, NOW)

    assert (result.status, result.fill) == ("open", None)
    assert state.book.positions == {}


def test_a_limit_order_rests_without_any_known_price() -> None:
    state = account()

    result = execute(state, make_order(order_type="limit", limit_price=D(95),
                                       reference_price=None), ZERO, ZERO, NOW)

    assert result.status == "open"
    assert state.book.last_prices == {}


@pytest.mark.parametrize(
    ("side", "kind", "trigger", "expected"),
    [
        ("buy", "limit", D(101), D(100)),  # fills at the market, better than its limit
        ("buy", "limit", D(100), D(100)),
        ("sell", "limit", D(99), D(100)),
        ("buy", "stop", D(99), D("100.1")),  # a stop already crossed is a market order
        ("buy", "stop", D(100), D("100.1")),
        ("sell", "stop", D(101), D("99.9")),
    ],
)
def test_orders_crossed_by_the_last_price_fill_at_once(side: str, kind: str, trigger: D,
                                                       expected: D) -> None:
    state = account()
    order = make_order(side=side, order_type=kind,
                       limit_price=trigger if kind == "limit" else None,
                       stop_price=trigger if kind == "stop" else None)

    # The market is at 100 (the last tick); a limit's own price is no market price.
    result = execute(state, order, D(10), ZERO, NOW, market_price=D(100))

    fill = filled(result)
    assert fill.average_price == expected
    assert fill.quantity == D(10)
    assert fill.position_quantity == (D(10) if side == "buy" else D(-10))
    assert state.orders == {order.client_order_id: result}


def test_a_marketable_limit_order_beyond_equity_is_refused() -> None:
    state = account("1000")

    error = rejection(state, market=D(100), quantity=D(11), order_type="limit",
                      limit_price=D(100))

    assert error.code == "insufficient_buying_power"
    assert state.orders == {}
    assert state.book.cash == D(1000)
    assert state.book.positions == {}


@pytest.mark.parametrize(
    ("kind", "prices", "code"),
    [
        ("limit", {}, "missing_limit_price"),
        ("limit", {"stop_price": D(95)}, "missing_limit_price"),
        ("stop", {}, "missing_stop_price"),
        ("stop", {"limit_price": D(95)}, "missing_stop_price"),
    ],
)
def test_limit_and_stop_orders_need_their_price(kind: str, prices: dict[str, D],
                                                code: str) -> None:
    state = account()

    error = rejection(state, order_type=kind, **prices)

    assert error.code == code
    assert state.orders == {}
    assert state.book.cash == D(100_000)


# --- observe_price --------------------------------------------------------------------

LATER = NOW + timedelta(minutes=5)


def rest(state: PaperAccount, coid: str, **fields: object) -> BrokerOrder:
    """Place a limit buy (by default) that must rest."""
    order = make_order(**{"client_order_id": coid, "order_type": "limit",
                          "reference_price": None, **fields})
    result = execute(state, order, ZERO, ZERO, NOW)
    assert result.status == "open", result
    return result


def test_observe_price_fills_crossed_orders_in_placement_order() -> None:
    state = account()
    state.book.last_prices["AAPL"] = D(100)
    rest(state, "z-first", quantity=D(1), limit_price=D(95))
    rest(state, "m-not-crossed", limit_price=D(90))
    rest(state, "a-second", quantity=D(2), limit_price=D(97))
    rest(state, "o-other-symbol", symbol="MSFT", limit_price=D(500))

    changed = observe_price(state, "AAPL", D(94), ZERO, ZERO, LATER)

    assert [o.client_order_id for o in changed] == ["z-first", "a-second"]
    first, second = (filled(o) for o in changed)
    assert (first.quantity, first.average_price, first.position_quantity) == (
        D(1), D(94), D(1))
    assert (second.quantity, second.average_price, second.position_quantity) == (
        D(2), D(94), D(3))
    assert first.filled_at == second.filled_at == LATER
    assert second.cash_after == D(100_000) - D(3) * D(94)
    for order in changed:
        assert state.orders[order.client_order_id] == order
    # 94 would cross MSFT's limit of 500, but it is an AAPL price.
    assert state.orders["o-other-symbol"].status == "open"
    assert state.orders["m-not-crossed"].status == "open"
    assert state.book.last_prices == {"AAPL": D(94)}
    assert state.book.positions["AAPL"].quantity == D(3)


def test_observing_the_same_price_again_fills_nothing_more() -> None:
    state = account()
    rest(state, "once", limit_price=D(95))
    observe_price(state, "AAPL", D(95), ZERO, ZERO, LATER)
    cash = state.book.cash

    assert observe_price(state, "AAPL", D(95), ZERO, ZERO, LATER) == []
    assert state.book.cash == cash
    assert state.book.fills == 1


def test_observe_price_records_a_price_that_crosses_nothing() -> None:
    state = account()
    resting = rest(state, "low", limit_price=D(95))

    assert observe_price(state, "AAPL", D("95.01"), ZERO, ZERO, LATER) == []
    assert state.book.last_prices["AAPL"] == D("95.01")
    assert state.orders == {"low": resting}


def test_observe_price_skips_orders_no_longer_open() -> None:
    state = account()
    resting = rest(state, "gone", limit_price=D(95))
    state.orders["gone"] = msgspec.structs.replace(resting, status="canceled")

    assert observe_price(state, "AAPL", D(90), ZERO, ZERO, LATER) == []
    assert state.book.positions == {}


def test_a_triggered_stop_fills_at_the_market_with_slippage() -> None:
    state = account("0", AAPL=("10", "100"))
    rest(state, "stop-loss", side="sell", intent="sell", order_type="stop",
         stop_price=D(95))

    (changed,) = observe_price(state, "AAPL", D(94), D(10), ZERO, LATER)

    fill = filled(changed)
    assert fill.average_price == D("93.906")
    assert fill.position_quantity == 0
    assert fill.realised_pnl == D("-60.94")


def test_an_order_lacking_buying_power_is_rejected_and_the_others_still_fill() -> None:
    state = account("1000")
    state.book.last_prices["AAPL"] = D(100)
    rest(state, "a", quantity=D(5), limit_price=D(90))
    rest(state, "big", quantity=D(20), limit_price=D(90))  # 1800 > the 1000 equity
    rest(state, "c", quantity=D(5), limit_price=D(90))

    changed = observe_price(state, "AAPL", D(90), ZERO, ZERO, LATER)

    assert [(o.client_order_id, o.status) for o in changed] == [
        ("a", "filled"), ("big", "rejected"), ("c", "filled")]
    rejected = changed[1]
    assert rejected.fill is None
    assert rejected.reason == "order needs 1800.00 USD, equity is 1000.00"
    assert state.orders["big"] == rejected
    assert state.book.positions["AAPL"].quantity == D(10)
    assert state.book.cash == D(100)
    # A rejected order stays rejected.
    assert observe_price(state, "AAPL", D(80), ZERO, ZERO, LATER) == []


def test_an_ioc_limit_that_is_not_marketable_is_canceled_not_left_resting() -> None:
    state = account()

    result = execute(state, make_order(order_type="limit", limit_price=D(95),
                                       time_in_force="ioc"), ZERO, ZERO, NOW,
                     market_price=D(100))

    assert (result.status, result.fill) == ("canceled", None)
    assert "immediate-or-cancel" in result.reason
    assert state.book.fills == 0


def test_a_resting_flip_closes_the_position_held_when_it_fills() -> None:
    state = account()
    execute(state, make_order(client_order_id="long", quantity=D(3)), ZERO, ZERO, NOW)
    flip = make_order(client_order_id="flip", side="sell", quantity=D(5), close_quantity=D(3),
                      order_type="limit", limit_price=D(110))
    assert execute(state, flip, ZERO, ZERO, NOW, market_price=D(100)).status == "open"
    # Meanwhile the long grew to 4; the flip must close 4 and open 2 short.
    execute(state, make_order(client_order_id="more", quantity=D(1)), ZERO, ZERO, NOW)

    changed = observe_price(state, "AAPL", D(111), ZERO, ZERO, NOW)

    fill = filled(changed[0])
    assert fill.quantity == D(6)
    assert fill.position_quantity == D(-2)
