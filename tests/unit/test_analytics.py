"""Analytics figures from signal history rows (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from projections.analytics import percentile, slippage_bps, summarise
from projections.signals import SignalRow

T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def row(n: int, **fields: Any) -> SignalRow:
    return SignalRow(**{"signal_id": f"s{n}", "tenant_id": "t", "strategy_id": "a",
                        "received_at": T0 + timedelta(seconds=n), "seq": n, "pos": n,
                        **fields})


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_slippage_is_signed_against_the_trader() -> None:
    buy = row(1, side="buy", alert_price=Decimal(100), fill_price=Decimal("100.05"))
    sell = row(2, side="sell", alert_price=Decimal(100), fill_price=Decimal("100.05"))
    assert slippage_bps(buy) == Decimal(5)
    assert slippage_bps(sell) == Decimal(-5)
    assert slippage_bps(row(3, side="buy", fill_price=Decimal(1))) is None


def test_a_period_summarised() -> None:
    end = T0 + timedelta(minutes=1)
    rows = [
        row(1, status="executed", latency_ms=10.0, quantity=Decimal(1), side="buy",
            fill_quantity=Decimal(1), alert_price=Decimal(100), fill_price=Decimal("100.1"),
            realised_pnl=Decimal("-3"), exit_leg="sl", terminal_at=end),
        row(2, status="executed", latency_ms=30.0, quantity=Decimal(1), side="sell",
            fill_quantity=Decimal(1), alert_price=Decimal(100), fill_price=Decimal(100),
            realised_pnl=Decimal(8), exit_leg="tp", terminal_at=end + timedelta(seconds=5)),
        row(3, status="failed", code="max_order_notional", reason="too big",
            latency_ms=20.0),
        row(4, status="executed", dry_run=True, latency_ms=5.0, strategy_id="b"),
        row(5, quantity=Decimal(2)),  # still resting at the broker
    ]
    s = summarise(rows, Decimal(1000))
    assert (s["signals"], s["executed"], s["failed"], s["in_progress"], s["dry_runs"]) == \
        (5, 3, 1, 1, 1)
    assert s["success_rate"] == 0.75
    assert (s["latency_p50_ms"], s["latency_p99_ms"]) == (10.0, 30.0)
    assert s["error_reasons"] == [{"code": "max_order_notional", "count": 1,
                                   "example": "too big"}]
    assert (s["orders"], s["filled"], s["fill_rate"]) == (3, 2, 0.6667)
    assert s["realised_pnl"] == "5"
    assert s["slippage_bps_avg"] == "5.00"
    assert (s["sl_hits"], s["leg_exits"], s["sl_hit_rate"]) == (1, 2, 0.5)
    assert s["equity_curve"] == [
        {"time": int(end.timestamp()), "value": "997"},
        {"time": int(end.timestamp()) + 5, "value": "1005"}]
    assert [(x["strategy_id"], x["signals"]) for x in s["strategies"]] == [("a", 4), ("b", 1)]
