"""Protective legs follow the position: the pure rule, and the paper book it keeps.

Every paper test here asserts the book the broker holds afterwards (position and
every order with side, quantity and status), not only what it reported.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from contracts.orders import BrokerOrder, OrderRequest
from domain.ledger import Book
from domain.protection import LegFix, leg_fixes, violations
from libs.brokers.base import BrokerRejected
from libs.brokers.paper import PaperAccount, execute, observe_price

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ZERO = D(0)


def leg(coid: str, side: str = "sell", quantity: str = "10", symbol: str = "KO",
        status: str = "open", group: str = "") -> BrokerOrder:
    kind = "sl" if coid.endswith("-sl") else "tp"
    return BrokerOrder(order_id=coid, client_order_id=coid, symbol=symbol,
                       side=side, quantity=D(quantity),  # type: ignore[arg-type]
                       order_type="stop" if kind == "sl" else "limit",
                       status=status, submitted_at=NOW, leg=kind,  # type: ignore[arg-type]
                       oco_group=group or coid.rsplit("-", 1)[0])


def test_no_position_cancels_every_leg_of_the_symbol() -> None:
    fixes = leg_fixes("KO", ZERO, [leg("a-sl"), leg("a-tp"), leg("b-sl", symbol="PFE")])
    assert [(f.client_order_id, f.action) for f in fixes] == [("a-sl", "cancel"),
                                                             ("a-tp", "cancel")]
    assert fixes[0].reason == "no position in KO to protect"


def test_a_leg_on_the_opening_side_is_cancelled() -> None:
    fixes = leg_fixes("KO", D(-20), [leg("a-sl"), leg("a-tp")])
    assert [(f.client_order_id, f.action) for f in fixes] == [("a-sl", "cancel"),
                                                             ("a-tp", "cancel")]
    assert fixes[0].reason == "the position is now short 20 KO: a sell leg would add to it"


def test_a_leg_larger_than_the_position_is_shrunk_to_it() -> None:
    fixes = leg_fixes("KO", D(6), [leg("a-sl"), leg("a-tp", quantity="4")])
    assert fixes == [LegFix("a-sl", "resize", "shrunk from 10 to the position of long 6 KO",
                            D(6))]


def test_only_the_newest_entrys_legs_protect() -> None:
    fixes = leg_fixes("KO", D(10), [leg("a-sl"), leg("a-tp"), leg("b-sl"), leg("b-tp")])
    assert [(f.client_order_id, f.action) for f in fixes] == [("a-sl", "cancel"),
                                                             ("a-tp", "cancel")]


def test_legs_that_fit_and_closed_orders_need_nothing() -> None:
    orders = [leg("a-sl"), leg("a-tp"), leg("old-sl", status="canceled"),
              leg("x-sl", side="buy", symbol="KO", status="filled")]
    assert leg_fixes("KO", D(10), orders) == []
    assert leg_fixes("KO", D(25), orders) == []


def test_violations_cover_every_symbol_of_the_account() -> None:
    orders = [leg("a-sl", symbol="GONE"), leg("b-sl", symbol="HELD"),
              leg("c-sl", side="buy", symbol="FLIP")]
    found = violations({"HELD": D(10), "FLIP": D(5)}, orders)
    assert [(o.client_order_id, f.action) for o, f in found] == [("c-sl", "cancel"),
                                                                 ("a-sl", "cancel")]


# --- the paper book ---------------------------------------------------------------


def order(coid: str, side: str, quantity: str, **fields: object) -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol=str(fields.pop("symbol", "KO")),
                        side=side, quantity=D(quantity),  # type: ignore[arg-type]
                        intent=str(fields.pop("intent", "buy")),  # type: ignore[arg-type]
                        **fields)  # type: ignore[arg-type]


def legs_for(entry: str, side: str, quantity: str, stop: str, take: str) -> list[OrderRequest]:
    return [order(f"{entry}-sl", side, quantity, intent="close", order_type="stop",
                  stop_price=D(stop), time_in_force="gtc", leg="sl", oco_group=entry),
            order(f"{entry}-tp", side, quantity, intent="close", order_type="limit",
                  limit_price=D(take), time_in_force="gtc", leg="tp", oco_group=entry)]


def long_with_legs(quantity: str = "10", price: str = "30") -> PaperAccount:
    """Long ``quantity`` KO at ``price`` with a stop 1 % below and a take-profit 2 % above."""
    state = PaperAccount(book=Book(cash=D(100_000)))
    execute(state, order("e1", "buy", quantity, reference_price=D(price)), ZERO, ZERO, NOW)
    for request in legs_for("e1", "sell", quantity, "29.70", "30.60"):
        assert execute(state, request, ZERO, ZERO, NOW).status == "open"
    return state


def book_of(state: PaperAccount) -> tuple[D, dict[str, tuple[str, str, str]]]:
    """The position in KO and every order as (side, quantity, status)."""
    return (state.book.position_quantity("KO"),
            {c: (o.side, f"{o.quantity.normalize():f}", o.status)
             for c, o in state.orders.items()})


def test_a_stop_loss_fill_cancels_the_take_profit_for_good() -> None:
    state = long_with_legs()
    observe_price(state, "KO", D("29.50"), ZERO, ZERO, NOW)
    observe_price(state, "KO", D("31.00"), ZERO, ZERO, NOW)
    assert book_of(state) == (ZERO, {"e1": ("buy", "10", "filled"),
                                     "e1-sl": ("sell", "10", "filled"),
                                     "e1-tp": ("sell", "10", "canceled")})


def test_a_take_profit_fill_cancels_the_stop_for_good() -> None:
    state = long_with_legs()
    observe_price(state, "KO", D("31.00"), ZERO, ZERO, NOW)
    observe_price(state, "KO", D("29.00"), ZERO, ZERO, NOW)
    assert book_of(state) == (ZERO, {"e1": ("buy", "10", "filled"),
                                     "e1-sl": ("sell", "10", "canceled"),
                                     "e1-tp": ("sell", "10", "filled")})


def test_a_flip_by_another_order_cancels_the_old_legs_in_the_same_update() -> None:
    state = long_with_legs()
    execute(state, order("s2", "sell", "30", intent="enter_short", close_quantity=D(10),
                         reference_price=D(30)), ZERO, ZERO, NOW)
    observe_price(state, "KO", D("31.00"), ZERO, ZERO, NOW)
    observe_price(state, "KO", D("29.00"), ZERO, ZERO, NOW)
    position, orders = book_of(state)
    assert position == D(-20)
    assert orders["e1-sl"][2] == orders["e1-tp"][2] == "canceled"
    assert state.orders["e1-sl"].reason == \
        "the position is now short 20 KO: a sell leg would add to it"


def test_a_partial_exit_shrinks_the_legs_to_what_is_left() -> None:
    state = long_with_legs()
    result = execute(state, order("x1", "sell", "4", intent="exit_long", reduce_only=True,
                                  reference_price=D(30)), ZERO, ZERO, NOW)
    assert result.status == "filled"
    observe_price(state, "KO", D("31.00"), ZERO, ZERO, NOW)
    assert book_of(state) == (ZERO, {"e1": ("buy", "10", "filled"),
                                     "x1": ("sell", "4", "filled"),
                                     "e1-sl": ("sell", "6", "canceled"),
                                     "e1-tp": ("sell", "6", "filled")})


def test_an_exit_by_another_strategy_cancels_the_legs() -> None:
    state = long_with_legs()
    execute(state, order("x", "sell", "10", intent="close", close_position=True,
                         reference_price=D(30)), ZERO, ZERO, NOW)
    observe_price(state, "KO", D("29.00"), ZERO, ZERO, NOW)
    position, orders = book_of(state)
    assert position == ZERO
    assert (orders["e1-sl"][2], orders["e1-tp"][2]) == ("canceled", "canceled")


def test_newer_legs_replace_the_older_ones_in_the_same_update() -> None:
    state = long_with_legs()
    execute(state, order("e2", "buy", "5", reference_price=D(30)), ZERO, ZERO, NOW)
    for request in legs_for("e2", "sell", "15", "29.00", "32.00"):
        execute(state, request, ZERO, ZERO, NOW)
    _, orders = book_of(state)
    assert (orders["e1-sl"][2], orders["e1-tp"][2]) == ("canceled", "canceled")
    assert (orders["e2-sl"], orders["e2-tp"]) == (("sell", "15", "open"),
                                                  ("sell", "15", "open"))


def test_a_leg_is_never_larger_than_the_position_when_placed() -> None:
    state = PaperAccount(book=Book(cash=D(100_000)))
    execute(state, order("e1", "buy", "4", reference_price=D(30)), ZERO, ZERO, NOW)
    placed = execute(state, legs_for("e1", "sell", "10", "29", "31")[0], ZERO, ZERO, NOW)
    assert (placed.status, placed.quantity) == ("open", D(4))


@pytest.mark.parametrize("held", ["0", "-5"])
def test_a_leg_without_a_position_to_protect_is_refused(held: str) -> None:
    state = PaperAccount(book=Book(cash=D(100_000)))
    if held != "0":
        execute(state, order("e0", "sell", "5", reference_price=D(30)), ZERO, ZERO, NOW)
    with pytest.raises(BrokerRejected) as refused:
        execute(state, legs_for("e1", "sell", "10", "29", "31")[0], ZERO, ZERO, NOW)
    assert (refused.value.code, refused.value.reason) == (
        "no_position", "no long position in KO to protect")
    assert "e1-sl" not in state.orders


def test_a_reduce_only_exit_never_crosses_zero() -> None:
    state = PaperAccount(book=Book(cash=D(100_000)))
    execute(state, order("e1", "buy", "3", reference_price=D(30)), ZERO, ZERO, NOW)
    result = execute(state, order("x1", "sell", "10", intent="exit_long", reduce_only=True,
                                  reference_price=D(30)), ZERO, ZERO, NOW)
    assert (result.status, result.quantity) == ("filled", D(3))
    assert state.book.position_quantity("KO") == ZERO
    with pytest.raises(BrokerRejected) as refused:
        execute(state, order("x2", "sell", "1", intent="exit_long", reduce_only=True,
                             reference_price=D(30)), ZERO, ZERO, NOW)
    assert refused.value.reason == "no long position in KO to reduce"
