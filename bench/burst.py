"""A candle-close burst (issue 14: 3,000 alerts from 300 strategies within one
second; every one answered 202 within TradingView's 3 s, every one terminal within
15 s).

``--strategies`` fresh tenants (each an account and a strategy) are registered; then
``--alerts`` signed alerts, spread evenly over the strategies, are sent open loop
within ``--within`` seconds. Each answer's time counts from its request's due moment,
each terminal event's (``occurred_at``) likewise.

    make bench-burst
    .venv/bin/python -m bench.burst --alerts 1000 --strategies 100
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.alerts import round_robin
from bench.phases import main, print_phase, send_phase, verdict
from bench.rig import Rig

ANSWER_S = 3.0
TERMINAL_S = 15.0


async def start(args: argparse.Namespace) -> Rig:
    """The pipeline and ``--ingress-workers`` ingress processes."""
    return await Rig.start(ingress_workers=args.ingress_workers)


async def measure(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    """The burst; the targets' verdicts."""
    targets = await rig.targets(args.strategies)
    alerts = round_robin(targets, args.alerts)
    row = await send_phase(rig, alerts, args.alerts / args.within,
                           drain_timeout=args.drain_timeout, max_connections=args.connections)
    all_202 = row["statuses"].get("202", 0) == args.alerts
    answered = all_202 and row["http"]["max_ms"] <= ANSWER_S * 1000
    ended = (row["outcome"]["not_ended"] == 0
             and row["to_terminal"]["max_ms"] <= TERMINAL_S * 1000)
    row["target"] = {"answered_202_within_3s": answered, "terminal_within_15s": ended,
                     "met": answered and ended}
    return row


def print_table(result: dict[str, Any]) -> None:
    """The burst and its verdicts."""
    s, target = result["settings"], result["target"]
    print(f"\ncandle-close burst: {s['alerts']} alerts from {s['strategies']} strategies "
          f"within {s['within']} s")
    print(f"  every one 202 within {ANSWER_S:.0f} s: "
          f"{verdict(target['answered_202_within_3s'])} (slowest answer "
          f"{result['http']['max_ms']} ms)")
    print(f"  every one terminal within {TERMINAL_S:.0f} s: "
          f"{verdict(target['terminal_within_15s'])} (slowest "
          f"{result['to_terminal']['max_ms']} ms, p50 {result['to_terminal']['p50_ms']} ms)")
    print_phase(result)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=3000)
    parser.add_argument("--strategies", type=int, default=300)
    parser.add_argument("--within", type=float, default=1.0, help="seconds")
    parser.add_argument("--connections", type=int, default=300,
                        help="at most this many client connections (one per strategy's "
                        "sender, as many senders post at a candle close)")
    parser.add_argument("--ingress-workers", type=int, default=1)
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main("burst", measure, start, print_table, parse_args()))
