"""Protective legs: prices, sides, ids; orphan detection; paper OCO behaviour."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from contracts.orders import BrokerOrder, Fill, OrderRequest
from projections.ledger import Book
from services.brokers.paper import PaperAccount, execute, observe_price
from services.sltp_monitor.cleanup import orphans
from services.sltp_monitor.legs import leg_prices, protective_legs
from tests.factories import make_strategy

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ENTRY = OrderRequest(client_order_id="bot-1-abc", symbol="ACME", side="buy",
                     quantity=D(10), intent="enter_long", reference_price=D(100))


def fill(position: str, price: str = "100.05") -> Fill:
    return Fill(order_id="o", client_order_id="bot-1-abc", symbol="ACME", side="buy",
                quantity=D(10), average_price=D(price), filled_at=NOW,
                position_quantity=D(position))


def test_long_legs_sit_below_and_above_the_average_fill() -> None:
    strategy = make_strategy(attach_sl_tp=True, sl_pct=D(2), tp_pct=D(5))
    sl, tp = protective_legs(ENTRY, fill("10"), strategy)
    assert (sl.client_order_id, sl.order_type, sl.side, sl.stop_price) == (
        "bot-1-abc-sl", "stop", "sell", D("98.05"))
    assert (tp.client_order_id, tp.order_type, tp.side, tp.limit_price) == (
        "bot-1-abc-tp", "limit", "sell", D("105.05"))
    assert sl.oco_group == tp.oco_group == "bot-1-abc"
    assert sl.quantity == tp.quantity == D(10)
    assert sl.time_in_force == tp.time_in_force == "gtc"


def test_short_legs_are_mirrored_and_cover_the_whole_position() -> None:
    strategy = make_strategy(attach_sl_tp=True, sl_pct=D(2), tp_pct=D(5))
    sl, tp = protective_legs(ENTRY, fill("-25", "200"), strategy)
    assert (sl.side, sl.stop_price, sl.quantity) == ("buy", D("204.00"), D(25))
    assert (tp.side, tp.limit_price) == ("buy", D("190.00"))


def test_alert_price_base_and_alert_stop_take_precedence() -> None:
    strategy = make_strategy(attach_sl_tp=True, sl_pct=D(2), tp_pct=D(5),
                             use_avg_fill_for_sl_tp=False)
    entry = OrderRequest(client_order_id="x", symbol="ACME", side="buy", quantity=D(1),
                         intent="buy", reference_price=D(100), stop_loss_price=D(90))
    sl, tp = protective_legs(entry, fill("1"), strategy)
    assert (sl.stop_price, tp.limit_price) == (D(90), D("105.00"))


def test_no_legs_when_flat_or_not_configured() -> None:
    attached = make_strategy(attach_sl_tp=True, sl_pct=D(2))
    assert protective_legs(ENTRY, fill("0"), attached) == []
    assert protective_legs(ENTRY, fill("10"), make_strategy()) == []
    assert leg_prices(True, D(100), make_strategy(attach_sl_tp=True, tp_pct=D(1)), None, None) == (
        None, D("101.00"))


def order(coid: str, symbol: str, leg: str = "", status: str = "open") -> BrokerOrder:
    return BrokerOrder(order_id=coid, client_order_id=coid, symbol=symbol, side="sell",
                       quantity=D(1), order_type="stop", status=status,  # type: ignore[arg-type]
                       submitted_at=NOW, leg=leg)  # type: ignore[arg-type]


def test_orphans_are_open_legs_without_a_position() -> None:
    open_orders = [order("a-sl", "GONE", "sl"), order("b-tp", "HELD", "tp"),
                   order("c", "GONE"), order("alpaca-entry-tp", "GONE"),
                   order("d-sl", "GONE", "sl", status="filled")]
    found = orphans(open_orders, {"HELD": D(3)})
    assert [o.client_order_id for o in found] == ["a-sl", "alpaca-entry-tp"]


def test_paper_oco_cancels_the_sibling_and_closing_cancels_legs() -> None:
    state = PaperAccount(book=Book(cash=D(100_000)))
    execute(state, ENTRY, D(0), D(0), NOW)
    strategy = make_strategy(attach_sl_tp=True, sl_pct=D(2), tp_pct=D(5))
    for leg in protective_legs(ENTRY, fill("10", "100"), strategy):
        assert execute(state, leg, D(0), D(0), NOW, market_price=D(100)).status == "open"
    changed = observe_price(state, "ACME", D(97), D(0), D(0), NOW)
    assert [(o.client_order_id, o.status) for o in changed] == [
        ("bot-1-abc-sl", "filled"), ("bot-1-abc-tp", "canceled")]
    assert state.book.position_quantity("ACME") == 0
    # A leg placed after its sibling already filled is cancelled at once.
    late = OrderRequest(client_order_id="bot-1-abc-tp2", symbol="ACME", side="sell",
                        quantity=D(10), intent="close", order_type="limit",
                        limit_price=D(110), leg="tp", oco_group="bot-1-abc")
    assert execute(state, late, D(0), D(0), NOW, market_price=D(97)).status == "canceled"


def test_trailing_stop_follows_a_rising_market_and_fills_on_the_pullback() -> None:
    state = PaperAccount(book=Book(cash=D(100_000)))
    execute(state, ENTRY, D(0), D(0), NOW)
    strategy = make_strategy(attach_sl_tp=True, sl_pct=D(5), trailing_stop_pct=D(5))
    (stop,) = protective_legs(ENTRY, fill("10", "100"), strategy)
    assert (stop.stop_price, stop.trail_pct) == (D("95.00"), D(5))
    execute(state, stop, D(0), D(0), NOW, market_price=D(100))

    assert observe_price(state, "ACME", D(120), D(0), D(0), NOW) == []
    assert state.orders[stop.client_order_id].stop_price == D("114.000000")
    assert observe_price(state, "ACME", D(115), D(0), D(0), NOW) == []  # never lowered
    assert state.orders[stop.client_order_id].stop_price == D("114.000000")
    (filled,) = observe_price(state, "ACME", D(113), D(0), D(0), NOW)
    assert filled.status == "filled"
    assert state.book.position_quantity("ACME") == 0
