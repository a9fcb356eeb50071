"""End to end on this machine: ``--rate`` signals/s for ``--seconds`` (issue 14:
≥ 400/s for 60 s with nothing lost).

The pipeline (ingress, validator, risk, executor, sl-tp-monitor, auditor with the
SQLite store) and a private nats-server run as processes; signed alerts go open loop
over ``--accounts`` accounts. Nothing lost means every accepted signal (202) is on the
stream as received and reached a terminal event, counted from the stream; sustained
means the signals ended at the offered rate (ended/s from the first request to the
last terminal event), not only accepted. CPU per signal per process from ``/proc``.

    make bench-sustained
    .venv/bin/python -m bench.sustained --rate 400 --seconds 10
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.alerts import round_robin
from bench.phases import main, print_phase, send_phase, verdict
from bench.rig import Rig


async def start(args: argparse.Namespace) -> Rig:
    """The pipeline and ``--ingress-workers`` ingress processes."""
    return await Rig.start(ingress_workers=args.ingress_workers)


async def measure(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    """One open-loop run; the target's verdict."""
    targets = await rig.targets(args.accounts)
    alerts = round_robin(targets, int(args.rate * args.seconds), rate=args.rate)
    row = await send_phase(rig, alerts, args.rate, drain_timeout=args.drain_timeout)
    row["peak_rss_mb"] = rig.peak_rss()
    outcome = row["outcome"]
    # Lost: accepted (202) but not on the stream or never ended. A 503 is no loss (the
    # sender is told to retry, nothing was accepted) but misses the target all the same.
    nothing_lost = (outcome["not_ended"] == 0
                    and outcome["received_on_stream"] == outcome["accepted"])
    all_accepted = outcome["accepted"] == row["sent"]
    sustained = row["ended_per_s"] >= args.rate * 0.98
    row["target"] = {"rate": args.rate, "nothing_lost": nothing_lost,
                     "all_accepted": all_accepted, "sustained": sustained,
                     "met": nothing_lost and all_accepted and sustained}
    return row


def print_table(result: dict[str, Any]) -> None:
    """The run and its verdict."""
    target = result["target"]
    print(f"\nsustained end to end, {result['settings']['seconds']} s over "
          f"{result['settings']['accounts']} accounts: {verdict(target['met'])} "
          f"(nothing lost: {target['nothing_lost']}, all accepted: {target['all_accepted']}, "
          f"ended at the offered rate: {target['sustained']})")
    print_phase(result)
    print(f"  peak RSS MB: {result['peak_rss_mb']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=400.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--ingress-workers", type=int, default=1)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main("sustained", measure, start, print_table, parse_args()))
