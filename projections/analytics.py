"""How a strategy or account performed over a period, from signal history rows.

Pure: rows in, numbers out. The operator API reads the rows of the period from the
history read model (one indexed query), never from the event store.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from projections.signals import SignalRow


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of ascending values (None when there are none)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def slippage_bps(row: SignalRow) -> Decimal | None:
    """How much worse than the alert's price the fill was, in basis points (negative:
    better). None without both prices or a side."""
    if row.alert_price is None or row.fill_price is None or not row.alert_price \
            or row.side not in ("buy", "sell"):
        return None
    sign = 1 if row.side == "buy" else -1
    return sign * (row.fill_price - row.alert_price) / row.alert_price * 10_000


def _curve(rows: list[SignalRow], base: Decimal) -> list[dict[str, Any]]:
    """Cumulative realised P&L at each signal's end, one point per second (the last of
    a second wins: a chart needs strictly rising times)."""
    points: dict[int, Decimal] = {}
    total = base
    ended = sorted((r for r in rows if r.realised_pnl and r.terminal_at is not None),
                   key=lambda r: (r.terminal_at, r.seq))
    for row in ended:
        assert row.terminal_at is not None and row.realised_pnl is not None
        total += row.realised_pnl
        points[int(row.terminal_at.timestamp())] = total
    return [{"time": t, "value": str(v)} for t, v in sorted(points.items())]


def summarise(rows: Iterable[SignalRow], base_equity: Decimal = Decimal(0)) -> dict[str, Any]:
    """The figures of the Analytics tab for ``rows`` (every signal of the period)."""
    rows = list(rows)
    real = [r for r in rows if not r.dry_run]
    executed = [r for r in rows if r.status == "executed"]
    failed = [r for r in rows if r.status == "failed"]
    latencies = sorted(r.latency_ms for r in rows if r.latency_ms is not None)
    ordered = [r for r in real if r.quantity is not None]
    filled = [r for r in ordered if r.fill_quantity]
    slippages = [s for s in (slippage_bps(r) for r in filled) if s is not None]
    sl_hits = sum(1 for r in real if r.exit_leg == "sl")
    leg_exits = sum(1 for r in real if r.exit_leg)
    pnl = sum((r.realised_pnl for r in real if r.realised_pnl), Decimal(0))
    reasons = Counter(r.code or r.stage for r in failed)
    example = {r.code or r.stage: r.reason for r in failed}
    per_strategy: dict[str, list[SignalRow]] = defaultdict(list)
    for row in rows:
        per_strategy[row.strategy_id].append(row)
    return {
        "signals": len(rows),
        "dry_runs": len(rows) - len(real),
        "executed": len(executed),
        "failed": len(failed),
        "in_progress": len(rows) - len(executed) - len(failed),
        "success_rate": _ratio(len(executed), len(executed) + len(failed)),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p99_ms": percentile(latencies, 99),
        "error_reasons": [{"code": code, "count": n, "example": example[code]}
                          for code, n in reasons.most_common()],
        "orders": len(ordered),
        "filled": len(filled),
        "fill_rate": _ratio(len(filled), len(ordered)),
        "realised_pnl": str(pnl),
        "slippage_bps_avg": str(round(sum(slippages) / len(slippages), 2)) if slippages
        else None,
        "sl_hits": sl_hits,
        "leg_exits": leg_exits,
        "sl_hit_rate": _ratio(sl_hits, leg_exits),
        "equity_curve": _curve(real, base_equity),
        "strategies": [{
            "strategy_id": sid,
            "signals": len(group),
            "success_rate": _ratio(sum(r.status == "executed" for r in group),
                                   sum(r.status in ("executed", "failed") for r in group)),
            "realised_pnl": str(sum((r.realised_pnl for r in group
                                     if r.realised_pnl and not r.dry_run), Decimal(0))),
        } for sid, group in sorted(per_strategy.items())],
    }
