"""TradingView target-position messages: entries, exits, partial exits and flips decided
from ``{{strategy.market_position}}`` and friends, so any Pine order id works."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.dialects import AlertError, parse_alert
from contracts.orders import OrderRequest
from services.risk.rules import decide_order
from services.validator.rules import build_signal
from tests.factories import make_snapshot, make_strategy

COID = "gold-breakout-1714573800-0f1e2d3c"


def target(action: str, contracts: str | None, after: str, before: str | None = None,
           size: str | None = None, prev_size: str | None = None,
           **extra: Any) -> dict[str, Any]:
    """A target-position message as TradingView renders it (``None``: not sent)."""
    fields = {"symbol": "AAPL", "strategy_order_id": "Long Entry",
              "strategy_order_action": action, "strategy_order_contracts": contracts,
              "strategy_order_price": "100", "strategy_market_position": after,
              "strategy_prev_market_position": before,
              "strategy_market_position_size": size,
              "strategy_prev_market_position_size": prev_size, **extra}
    return {k: v for k, v in fields.items() if v is not None}


@pytest.mark.parametrize(("message", "intent", "quantity", "percent"), [
    # Opening from flat, with a Pine order id the old form refused.
    (target("buy", "10", "long", "flat", "10", "0"), "enter_long", D(10), None),
    (target("sell", "4", "short", "flat", "4", "0"), "enter_short", D(4), None),
    # Adding to a position.
    (target("buy", "5", "long", "long", "15", "10"), "enter_long", D(5), None),
    # A flip: TradingView's contracts close 10 and open 20; we open 20 after closing.
    (target("sell", "30", "short", "long", "20", "10"), "enter_short", D(20), None),
    (target("buy", "30", "long", "short", None, "10"), "enter_long", D(20), None),
    (target("buy", "30", "long", None, "20"), "enter_long", D(20), None),
    # Flat after the order: the whole position, whatever the contracts say.
    (target("sell", "10", "flat", "long", "0", "10"), "exit_long", None, None),
    (target("buy", "7", "flat", "short"), "exit_short", None, None),
    (target("sell", "10", "flat"), "exit_long", None, None),
    # A partial exit: how much, and which fraction of the position that was.
    (target("sell", "5", "long", "long", "15", "20"), "exit_long", D(5), D(25)),
    (target("buy", "1", "short", "short", "3"), "exit_short", D(1), D(25)),
    (target("sell", None, "long", "long", "6", "8"), "exit_long", D(2), D(25)),
    (target("sell", "2", "long", "long"), "exit_long", D(2), None),
])
def test_the_target_position_decides_the_trade(message: dict[str, Any], intent: str,
                                               quantity: D | None, percent: D | None) -> None:
    alert = parse_alert(message)
    assert (alert.intent, alert.quantity, alert.percent) == (intent, quantity, percent)


def test_the_signed_position_size_stands_for_the_unsigned_one() -> None:
    alert = parse_alert(target("sell", "30", "short", "long", strategy_position_size="-20"))
    assert (alert.intent, alert.quantity) == ("enter_short", D(20))


@pytest.mark.parametrize(("message", "field"), [
    (target("sell", "5", "long", "short"), "strategy_prev_market_position"),
    (target("buy", "5", "flat", "long"), "strategy_prev_market_position"),
    (target("buy", "5", "flat", "flat"), "strategy_market_position"),
    (target("buy", "5", "long", strategy_position_size="-5"), "strategy_position_size"),
    (target("buy", "5", "sideways"), "strategy_market_position"),
    (target("buy", None, "long", "flat"), "strategy_order_contracts"),
    (target("sell", None, "long", "long"), "strategy_order_contracts"),
    (target("buy", "10", "long", "short", None, "10"), "strategy_order_contracts"),
    (target("buy", "5", "{{strategy.market_position}}"), "strategy_market_position"),
])
def test_a_contradictory_or_incomplete_target_message_names_the_field(
        message: dict[str, Any], field: str) -> None:
    with pytest.raises(AlertError) as caught:
        parse_alert(message)
    assert caught.value.field == field


def test_without_the_target_fields_the_order_id_keeps_its_old_meaning() -> None:
    old = {"symbol": "AAPL", "strategy_order_id": "long", "strategy_order_action": "sell",
           "strategy_order_contracts": "3"}
    assert (parse_alert(old).intent, parse_alert(old).quantity) == ("exit_long", D(3))
    with pytest.raises(AlertError) as caught:
        parse_alert({**old, "strategy_order_id": "Long Entry"})
    assert caught.value.field == "strategy_order_id"
    assert "strategy_market_position" in caught.value.message


# -- the message, applied by risk to our position, gives TradingView's position ------

def _apply(order: OrderRequest, held: D) -> D:
    """The position after ``order`` fills in full (reduce-only never crosses zero)."""
    if order.close_position:
        return D(0)
    signed = order.quantity if order.side == "buy" else -order.quantity
    return held + signed


def _side(size: D) -> str:
    return "long" if size > 0 else "short" if size < 0 else "flat"


def _decided(message: dict[str, Any], held: D, **strategy: Any) -> D:
    built = build_signal(parse_alert(message), "paper")
    assert not hasattr(built, "code"), built
    snapshot = make_snapshot(positions={"AAPL": held} if held else {},
                             equity=D(10) ** 9, cash=D(10) ** 9)
    decided = decide_order(built, make_strategy(max_order_notional=None, **strategy),  # type: ignore[arg-type]
                           snapshot, COID)
    assert isinstance(decided, OrderRequest), decided
    return _apply(decided, held)


SIZES = st.integers(min_value=-50, max_value=50).map(D)


@given(before=SIZES, after=SIZES, send_prev=st.booleans())
def test_any_transition_reproduces_tradingviews_position(before: D, after: D,
                                                         send_prev: bool) -> None:
    if before == after or (before == 0 and after == 0):
        return
    delta = after - before
    message = target("buy" if delta > 0 else "sell", str(abs(delta)), _side(after),
                     _side(before) if send_prev else None, str(abs(after)),
                     str(abs(before)) if send_prev else None)
    assert _decided(message, before, sizing_mode="auto") == after


@given(before=st.integers(min_value=1, max_value=40).map(D),
       kept=st.integers(min_value=0, max_value=39).map(D),
       scale=st.sampled_from([D(1), D(3), D("52.5")]), short=st.booleans())
def test_a_partial_exit_closes_the_same_fraction_of_a_position_sized_otherwise(
        before: D, kept: D, scale: D, short: bool) -> None:
    if kept >= before:
        return
    sign = -1 if short else 1
    message = target("buy" if short else "sell", str(before - kept),
                     _side(sign * kept), _side(sign * before), str(kept), str(before))
    # Our position was sized as a percent of equity: ``scale`` times TradingView's.
    ours = _decided(message, sign * before * scale, sizing_mode="percent_equity")
    assert ours == sign * kept * scale
