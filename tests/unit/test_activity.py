"""The lines of logs.jsonl and activity.log, from events."""

from __future__ import annotations

import json
from decimal import Decimal

from contracts.events import AccountResumed, AccountUpdated, BreakerTripped, StrategyUpdated
from projections.activity import activity_line, jsonl_line
from tests.factories import (
    ACCOUNT_ID,
    NOW,
    STRATEGY_ID,
    TENANT_ID,
    make_failed,
    make_fill,
    make_received,
    make_trade_executed,
)


def test_a_json_line_is_the_event_with_its_position_and_subject() -> None:
    event = make_received()
    line = jsonl_line(42, event)
    assert "\n" not in line
    data = json.loads(line)
    assert data["position"] == 42 and data["type"] == "webhook.received"
    assert data["subject"] == f"webhook.received.{event.tenant_id}.{event.strategy_id}"
    assert data["event"]["payload"] == event.payload
    assert line.startswith('{"position":42,')  # how the log book finds where it was


def test_a_fill_is_a_position_line() -> None:
    fill = make_fill(side="sell", quantity=Decimal("0.50"), average_price=Decimal("42000.10"),
                     position_quantity=Decimal("1.5000"), realised_pnl=Decimal("-12.5"),
                     cash_after=Decimal("95000.00"))
    line = activity_line(7, make_trade_executed(fill=fill))
    assert line == (f"{NOW.isoformat()} #7 {TENANT_ID}/{ACCOUNT_ID} strategy {STRATEGY_ID}: "
                    "AAPL sell 0.5 @ 42000.1 → position 1.5, realised P&L -12.5, cash 95000")


def test_a_dry_run_or_a_refusal_changes_no_position() -> None:
    assert activity_line(1, make_trade_executed(dry_run=True, fill=None)) is None
    assert activity_line(2, make_failed()) is None
    assert activity_line(3, make_received()) is None


def test_breaker_pause_and_resume_are_bot_state_lines() -> None:
    tripped = BreakerTripped(event_id="e", signal_id="b", tenant_id="t1", occurred_at=NOW,
                             account_id="acct-1", kind="sl", equity=Decimal("8900"),
                             threshold=Decimal("9000"), base_equity=Decimal("10000"),
                             paused=True, reason="equity below 90%")
    line = activity_line(9, tripped)
    assert line is not None
    assert "breaker SL paused, liquidating: equity 8900 against 9000 (equity below 90%)" in line
    resumed = AccountResumed(event_id="r", signal_id="r", tenant_id="t1", occurred_at=NOW,
                             account_id="acct-1", by="api key k1")
    assert str(activity_line(10, resumed)).endswith("t1/acct-1 resumed by api key k1")
    paused = make_failed(stage="risk", code="paused", reason="account Main is paused")
    assert "refused: account Main is paused" in str(activity_line(11, paused))


def test_a_strategy_switched_off_says_so() -> None:
    update = StrategyUpdated(event_id="u", signal_id="", tenant_id="t1", occurred_at=NOW,
                             strategy_id="strat-1", changes={"enabled": False},
                             by="api key k1")
    assert str(activity_line(12, update)).endswith("t1 strategy strat-1 disabled by api key k1")
    fees = AccountUpdated(event_id="f", signal_id="", tenant_id="t1", occurred_at=NOW,
                          account_id="acct-1", changes={"fee_bps": "2"})
    assert activity_line(13, fees) is None  # a setting, not the bot's state
    paused = AccountUpdated(event_id="p", signal_id="", tenant_id="t1", occurred_at=NOW,
                            account_id="acct-1", changes={"paused": True})
    assert str(activity_line(14, paused)).endswith("t1 account acct-1 paused")
