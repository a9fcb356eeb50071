"""Protective legs: prices, sides, ids; orphan detection; paper OCO behaviour."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from contracts.orders import BrokerOrder, Fill, OrderRequest
from domain.ledger import Book
from libs.brokers.paper import PaperAccount, execute, observe_price
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


def held(state: PaperAccount) -> dict[str, tuple[object, ...]]:
    """What the paper account holds: every order as (side, quantity, status, price it
    rests or filled at), and the position and cash under the key ``book``."""
    out: dict[str, tuple[object, ...]] = {}
    for coid, o in state.orders.items():
        price = o.fill.average_price if o.fill else (o.stop_price or o.limit_price)
        out[coid] = (o.side, o.quantity, o.status, price)
    out["book"] = (state.book.position_quantity("ACME"), state.book.cash)
    return out


def entered(legs: list[OrderRequest], entry: OrderRequest = ENTRY) -> PaperAccount:
    """An account that filled ``entry`` at 100 and rests ``legs``."""
    state = PaperAccount(book=Book(cash=D(100_000)))
    execute(state, entry, D(0), D(0), NOW)
    for leg in legs:
        assert execute(state, leg, D(0), D(0), NOW, market_price=D(100)).status == "open"
    return state


def test_paper_oco_cancels_the_sibling_and_a_late_leg_of_the_group() -> None:
    state = entered(protective_legs(ENTRY, fill("10", "100"), make_strategy(
        attach_sl_tp=True, sl_pct=D(2), tp_pct=D(5))))
    observe_price(state, "ACME", D(97), D(0), D(0), NOW)
    # A leg placed after its sibling already filled is cancelled at once.
    late = OrderRequest(client_order_id="bot-1-abc-tp2", symbol="ACME", side="sell",
                        quantity=D(10), intent="close", order_type="limit",
                        limit_price=D(110), leg="tp", oco_group="bot-1-abc")
    execute(state, late, D(0), D(0), NOW, market_price=D(97))
    assert held(state) == {
        "bot-1-abc": ("buy", D(10), "filled", D("100")),
        "bot-1-abc-sl": ("sell", D(10), "filled", D("97.000000")),  # a stop fills at market
        "bot-1-abc-tp": ("sell", D(10), "canceled", D("105.00")),
        "bot-1-abc-tp2": ("sell", D(10), "canceled", D("110")),
        "book": (D(0), D("99970.000000")),
    }


def test_trailing_stop_follows_a_rising_market_and_fills_on_the_pullback() -> None:
    strategy = make_strategy(attach_sl_tp=True, sl_pct=D(5), trailing_stop_pct=D(5))
    (stop,) = protective_legs(ENTRY, fill("10", "100"), strategy)
    assert (stop.stop_price, stop.trail_pct) == (D("95.00"), D(5))
    state = entered([stop])

    observe_price(state, "ACME", D(120), D(0), D(0), NOW)
    assert held(state)["bot-1-abc-sl"] == ("sell", D(10), "open", D("114.000000"))
    observe_price(state, "ACME", D(115), D(0), D(0), NOW)  # never lowered
    assert held(state)["bot-1-abc-sl"] == ("sell", D(10), "open", D("114.000000"))
    observe_price(state, "ACME", D(113), D(0), D(0), NOW)
    assert held(state) == {"bot-1-abc": ("buy", D(10), "filled", D("100")),
                           "bot-1-abc-sl": ("sell", D(10), "filled", D("113.000000")),
                           "book": (D(0), D("100130.000000"))}
    assert state.book.realised_pnl == D(130)


SHORT = OrderRequest(client_order_id="bot-1-abc", symbol="ACME", side="sell",
                     quantity=D(10), intent="enter_short", reference_price=D(100))


def test_a_short_s_trailing_stop_follows_a_falling_market_and_fills_on_the_bounce() -> None:
    strategy = make_strategy(attach_sl_tp=True, sl_pct=D(5), trailing_stop_pct=D(5))
    (stop,) = protective_legs(SHORT, fill("-10", "100"), strategy)
    assert (stop.side, stop.stop_price, stop.trail_pct) == ("buy", D("105.00"), D(5))
    state = entered([stop], SHORT)

    observe_price(state, "ACME", D(80), D(0), D(0), NOW)
    assert held(state)["bot-1-abc-sl"] == ("buy", D(10), "open", D("84.000000"))
    observe_price(state, "ACME", D(83), D(0), D(0), NOW)  # never raised again
    assert held(state)["bot-1-abc-sl"] == ("buy", D(10), "open", D("84.000000"))
    observe_price(state, "ACME", D(85), D(0), D(0), NOW)
    assert held(state) == {"bot-1-abc": ("sell", D(10), "filled", D("100")),
                           "bot-1-abc-sl": ("buy", D(10), "filled", D("85.000000")),
                           "book": (D(0), D("100150.000000"))}
    assert state.book.realised_pnl == D(150)


def trailing_with_take_profit() -> PaperAccount:
    """Long 10 at 100: a 5 % trailing stop and a take-profit 10 % above, trailed up
    once (to 102.6 by a tick at 108)."""
    strategy = make_strategy(attach_sl_tp=True, sl_pct=D(5), tp_pct=D(10),
                             trailing_stop_pct=D(5))
    stop, take = protective_legs(ENTRY, fill("10", "100"), strategy)
    assert (stop.trail_pct, take.limit_price, take.trail_pct) == (D(5), D("110.00"), None)
    state = entered([stop, take])
    observe_price(state, "ACME", D(108), D(0), D(0), NOW)
    assert held(state)["bot-1-abc-sl"] == ("sell", D(10), "open", D("102.600000"))
    return state


def test_a_take_profit_fill_cancels_the_trailing_stop() -> None:
    state = trailing_with_take_profit()
    observe_price(state, "ACME", D(111), D(0), D(0), NOW)
    observe_price(state, "ACME", D(90), D(0), D(0), NOW)  # nothing left to fill
    assert held(state) == {"bot-1-abc": ("buy", D(10), "filled", D("100")),
                           # trailed once more in the same pass, then cancelled
                           "bot-1-abc-sl": ("sell", D(10), "canceled", D("105.450000")),
                           "bot-1-abc-tp": ("sell", D(10), "filled", D("111.000000")),
                           "book": (D(0), D("100110.000000"))}


def test_a_trailing_stop_fill_cancels_the_take_profit_for_good() -> None:
    state = trailing_with_take_profit()
    observe_price(state, "ACME", D(102), D(0), D(0), NOW)
    observe_price(state, "ACME", D(111), D(0), D(0), NOW)  # through the old take-profit
    assert held(state) == {"bot-1-abc": ("buy", D(10), "filled", D("100")),
                           "bot-1-abc-sl": ("sell", D(10), "filled", D("102.000000")),
                           "bot-1-abc-tp": ("sell", D(10), "canceled", D("110.00")),
                           "book": (D(0), D("100020.000000"))}


def test_oco_cancels_the_sibling_even_when_a_position_remains() -> None:
    """Another strategy added 5 without legs: after the stop sells its 10, 5 are
    still held, yet the take-profit of the same entry must go (not shrink to 5)."""
    state = entered(protective_legs(ENTRY, fill("10", "100"), make_strategy(
        attach_sl_tp=True, sl_pct=D(2), tp_pct=D(5))))
    execute(state, OrderRequest(client_order_id="other-1", symbol="ACME", side="buy",
                                quantity=D(5), intent="enter_long", reference_price=D(100)),
            D(0), D(0), NOW)
    observe_price(state, "ACME", D(97), D(0), D(0), NOW)
    observe_price(state, "ACME", D(106), D(0), D(0), NOW)  # through the old take-profit
    assert held(state) == {
        "bot-1-abc": ("buy", D(10), "filled", D(100)),
        "bot-1-abc-sl": ("sell", D(10), "filled", D(97)),
        "bot-1-abc-tp": ("sell", D(10), "canceled", D(105)),
        "other-1": ("buy", D(5), "filled", D(100)),
        "book": (D(5), D(98_500) + D(970)),
    }
    assert state.orders["bot-1-abc-tp"].reason.startswith("OCO: ")
