"""Partial exits: an exit with a quantity closes that much, ``percent`` that part of the
position; never more than held, never across zero; TradingView's own units are never
taken for ours."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.orders import OrderRequest, Sizing
from services.risk.ledger import RiskLedger
from services.risk.limits import Exposure, check_limits
from services.risk.rules import RiskRefusal, decide_order
from tests.factories import make_signal, make_snapshot, make_strategy

COID = "gold-breakout-1714573800-0f1e2d3c"


def _exit(held: D, **signal: Any) -> OrderRequest | RiskRefusal:
    strategy = make_strategy(**signal.pop("strategy", {}))
    fields: dict[str, Any] = {"intent": "close", **signal}
    return decide_order(make_signal(**fields), strategy,
                        make_snapshot(positions={"AAPL": held}), COID)


def test_an_exit_with_a_quantity_closes_that_much_reduce_only() -> None:
    order = _exit(D(10), quantity=D(4))
    assert order == OrderRequest(
        client_order_id=COID, symbol="AAPL", side="sell", quantity=D(4), intent="close",
        reference_price=D(150), reduce_only=True, close_position=False,
        sizing=Sizing(mode="percent_equity", basis="alert_quantity", quantity=D(4),
                      detail="the alert's quantity 4 of the position 10"))


def test_a_short_is_partly_closed_by_buying() -> None:
    order = _exit(D(-10), intent="exit_short", quantity=D(3))
    assert isinstance(order, OrderRequest)
    assert (order.side, order.quantity, order.reduce_only) == ("buy", D(3), True)


def test_percent_closes_that_part_of_the_position_rounded_down_to_the_step() -> None:
    order = _exit(D(7), percent=D(50), strategy={"quantity_step": D(1)})
    assert isinstance(order, OrderRequest)
    assert (order.quantity, order.reduce_only) == (D(3), True)
    assert order.sizing == Sizing(mode="percent_equity", basis="percent_of_position",
                                  quantity=D(3), detail="50 % of the position 7, rounded "
                                  "down to step 1")


@pytest.mark.parametrize("fields", [{"quantity": D(12)}, {"percent": D(100)},
                                    {"quantity": D(10)}])
def test_closing_as_much_as_is_held_or_more_closes_the_position(fields: dict[str, D]) -> None:
    order = _exit(D(10), **fields)
    assert isinstance(order, OrderRequest)
    assert (order.quantity, order.close_position, order.reduce_only) == (D(10), True, False)


def test_a_part_that_rounds_to_nothing_is_refused() -> None:
    refused = _exit(D(1), percent=D(40), strategy={"quantity_step": D(1)})
    assert isinstance(refused, RiskRefusal)
    assert refused.code == "size_zero"


def test_an_exit_of_the_wrong_side_is_still_refused() -> None:
    refused = _exit(D(5), intent="exit_short", quantity=D(1))
    assert isinstance(refused, RiskRefusal)
    assert refused.code == "no_position"


def test_tradingview_contracts_close_all_of_a_position_sized_by_percent_of_equity() -> None:
    order = _exit(D(52), intent="exit_long", dialect="tradingview", quantity=D(1))
    assert isinstance(order, OrderRequest)
    assert (order.quantity, order.close_position) == (D(52), True)
    assert order.sizing is not None and order.sizing.basis == "position"
    assert "strategy_prev_market_position_size" in order.sizing.detail


@pytest.mark.parametrize("mode", ["auto", "alert_contracts"])
def test_tradingview_contracts_are_ours_when_entries_were_sized_from_them(mode: str) -> None:
    order = _exit(D(10), intent="exit_long", dialect="tradingview", quantity=D(4),
                  strategy={"sizing_mode": mode})
    assert isinstance(order, OrderRequest)
    assert (order.quantity, order.reduce_only) == (D(4), True)


def test_limits_never_hold_a_partial_exit_back() -> None:
    strategy = make_strategy(require_stop_loss=True, min_order_quantity=D(100),
                             allowed_symbols=["MSFT"])
    signal = make_signal(intent="close", quantity=D(4))
    order = decide_order(signal, strategy, make_snapshot(positions={"AAPL": D(10)}), COID)
    assert isinstance(order, OrderRequest) and order.reduce_only
    exposure = Exposure(positions={"AAPL": D(10)}, prices={}, equity=D(100_000))
    assert check_limits(signal, order, strategy, exposure, RiskLedger(), D(150)) is None


@given(held=st.decimals(min_value=D("0.0001"), max_value=D(10_000), places=4),
       negative=st.booleans(),
       asked=st.one_of(st.decimals(min_value=D("0.0001"), max_value=D(20_000), places=4)
                       .map(lambda q: {"quantity": q}),
                       st.decimals(min_value=D("0.01"), max_value=D(100), places=2)
                       .map(lambda p: {"percent": p})))
def test_an_exit_never_crosses_zero_nor_grows_the_position(held: D, negative: bool,
                                                           asked: dict[str, D]) -> None:
    position = -held if negative else held
    decided = _exit(position, **asked)
    if isinstance(decided, RiskRefusal):
        assert decided.code == "size_zero"
        return
    assert decided.side == ("buy" if negative else "sell")
    assert D(0) < decided.quantity <= held
    assert decided.close_position == (decided.quantity == held)
    assert decided.reduce_only == (not decided.close_position)
