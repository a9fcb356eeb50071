"""``require_stop_loss`` means a stop will really rest; alert stops sit on the right side."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from services.risk.ledger import RiskLedger
from services.risk.limits import Exposure, check_limits
from services.risk.rules import RiskRefusal
from tests.factories import make_order, make_signal, make_snapshot, make_strategy


def check(signal_fields: dict[str, Any], side: str = "buy", **strategy: Any
          ) -> RiskRefusal | None:
    ledger = RiskLedger()
    return check_limits(make_signal(price=D(100), **signal_fields),
                        make_order(side=side), make_strategy(max_order_notional=None,
                                                             **strategy),
                        Exposure.of(make_snapshot(), ledger), ledger, D(100))


def test_a_required_stop_passes_with_the_alerts_own_stop() -> None:
    assert check({"stop_loss": D(95)}, require_stop_loss=True) is None


def test_a_required_stop_passes_when_the_strategy_attaches_its_own() -> None:
    assert check({}, require_stop_loss=True, attach_sl_tp=True, sl_pct=D(2)) is None


@pytest.mark.parametrize("strategy", [
    {}, {"attach_sl_tp": True}, {"attach_sl_tp": True, "tp_pct": D(5)},
    {"attach_sl_tp": False, "sl_pct": D(2)}])
def test_a_required_stop_is_refused_before_any_order_when_none_would_rest(
        strategy: dict[str, Any]) -> None:
    refused = check({}, require_stop_loss=True, **strategy)
    assert isinstance(refused, RiskRefusal)
    assert refused.code == "require_stop_loss"
    assert refused.reason == ("the strategy requires a stop-loss on every entry: send stopLoss "
                              "in the alert, or attach the strategy's own (attach_sl_tp with "
                              "sl_pct)")


@pytest.mark.parametrize(("side", "fields", "code", "reason"), [
    ("buy", {"stop_loss": D(100)}, "invalid_stop_loss",
     "stopLoss 100 must be below the entry price 100 of a long entry"),
    ("buy", {"stop_loss": D(101)}, "invalid_stop_loss",
     "stopLoss 101 must be below the entry price 100 of a long entry"),
    ("sell", {"stop_loss": D(99)}, "invalid_stop_loss",
     "stopLoss 99 must be above the entry price 100 of a short entry"),
    ("buy", {"take_profit": D(99)}, "invalid_take_profit",
     "takeProfit 99 must be above the entry price 100 of a long entry"),
    ("sell", {"take_profit": D(100)}, "invalid_take_profit",
     "takeProfit 100 must be below the entry price 100 of a short entry"),
])
def test_alert_stops_on_the_wrong_side_are_refused(side: str, fields: dict[str, Any],
                                                   code: str, reason: str) -> None:
    refused = check(fields, side=side)
    assert isinstance(refused, RiskRefusal)
    assert (refused.code, refused.reason) == (code, reason)


@pytest.mark.parametrize(("side", "fields"), [
    ("buy", {"stop_loss": D("99.99"), "take_profit": D("100.01")}),
    ("sell", {"stop_loss": D("100.01"), "take_profit": D("99.99")})])
def test_alert_stops_on_the_protective_side_pass(side: str, fields: dict[str, Any]) -> None:
    assert check(fields, side=side) is None
