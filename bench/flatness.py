"""CPU per signal as an account trades all day, and over ten accounts (issue 14:
≤ 1.3 times between the first 1,000 signals and signal 50,000 of one account in one day;
≤ 4 ms per signal over 10 accounts, all processes, nats-server and the store
included).

One account first: ``--signals`` alerts (alternating buy and sell of one contract) in
chunks of ``--window``, each chunk sent by ``--concurrency`` keep-alive connections
(closed loop: a new request when an answer comes) and waited for until every signal
ended; CPU of every process is read from ``/proc`` around the first chunk and the last
(signals ``--signals - --window`` to ``--signals``). Then ``--spread`` signals over
``--accounts`` fresh accounts on the same system, measured the same way.

    make bench-flatness
    .venv/bin/python -m bench.flatness --signals 10000 --window 1000
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from bench.alerts import Target, round_robin
from bench.phases import main, send_phase, verdict
from bench.rig import Rig

GROWTH_LIMIT = 1.3
SPREAD_LIMIT_MS = 4.0


async def start(args: argparse.Namespace) -> Rig:
    """The pipeline and one ingress process."""
    return await Rig.start(ingress_workers=args.ingress_workers)


async def _chunk(rig: Rig, targets: list[Target], first: int, count: int,
                 args: argparse.Namespace) -> dict[str, Any]:
    # Closed loop: at most ``concurrency`` requests in flight, no pacing.
    return await send_phase(rig, round_robin(targets, count, first), 1e9,
                            drain_timeout=args.drain_timeout,
                            max_connections=args.concurrency)


def _short(row: dict[str, Any], after: int) -> dict[str, Any]:
    return {"signals_before": after, "signals": row["sent"], "outcome": row["outcome"],
            "ended_per_s": row["ended_per_s"], "cpu": row["cpu"],
            "load_average": row["load_average"]}


async def measure(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    """One account to ``--signals``, then ``--spread`` over ``--accounts``."""
    one = await rig.targets(1)
    windows = []
    sent = 0
    began = time.perf_counter()
    while sent < args.signals:
        count = min(args.window, args.signals - sent)
        row = await _chunk(rig, one, sent, count, args)
        if sent == 0 or sent + count >= args.signals:
            windows.append(_short(row, sent))
        lost = row["outcome"]["not_ended"]
        sent += count
        print(f"  one account: {sent} signals, {row['cpu']['total_ms']} ms CPU/signal, "
              f"{row['ended_per_s']} ended/s{f', {lost} not ended' if lost else ''}",
              flush=True)
    first, last = windows[0]["cpu"]["total_ms"], windows[-1]["cpu"]["total_ms"]
    growth = round(last / first, 2) if first else 0.0
    spread_targets = await rig.targets(args.accounts)
    spread = _short(await _chunk(rig, spread_targets, 0, args.spread, args), 0)
    return {"one_account": {"windows": windows, "growth": growth,
                            "seconds": round(time.perf_counter() - began, 1)},
            "spread": spread,
            "target": {"growth_limit": GROWTH_LIMIT, "flat": growth <= GROWTH_LIMIT,
                       "spread_limit_ms": SPREAD_LIMIT_MS,
                       "spread_met": spread["cpu"]["total_ms"] <= SPREAD_LIMIT_MS}}


def _row(label: str, row: dict[str, Any]) -> str:
    per = row["cpu"]["per_process_ms"]
    return (f"  {label:<28} " + " ".join(f"{v:>8}" for k, v in per.items()
                                          if not k.startswith("bench"))
            + f" {row['cpu']['total_ms']:>8} {row['ended_per_s']:>8}  load "
            f"{row['load_average']['after'][0]}")


def print_table(result: dict[str, Any]) -> None:
    """CPU ms per signal per process: first and last window of one account, spread."""
    one, target = result["one_account"], result["target"]
    names = [k for k in one["windows"][0]["cpu"]["per_process_ms"] if not k.startswith("bench")]
    print(f"\nCPU ms per signal; one account: last window / first = {one['growth']} "
          f"(≤ {GROWTH_LIMIT}: {verdict(target['flat'])}); "
          f"{result['settings']['accounts']} accounts: {result['spread']['cpu']['total_ms']} ms "
          f"(≤ {SPREAD_LIMIT_MS:.0f}: {verdict(target['spread_met'])})")
    print(f"  {'':<28} " + " ".join(f"{n[:8]:>8}" for n in names) + f" {'total':>8} "
          f"{'ended/s':>8}")
    for w in one["windows"]:
        print(_row(f"one account, {w['signals_before']}+{w['signals']}", w))
    print(_row(f"{result['settings']['accounts']} accounts, {result['spread']['signals']}",
               result["spread"]))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--signals", type=int, default=50_000,
                        help="signals on the one account")
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--spread", type=int, default=5000,
                        help="signals over --accounts accounts")
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--ingress-workers", type=int, default=1)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main("flatness", measure, start, print_table, parse_args()))
