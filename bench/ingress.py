"""Ingress alone (issue 14: ≥ 3,000 accepted/s with HMAC and durable publish; p99
under 10 ms at 1,000/s).

Only nats-server and ingress run (accepted = the ``webhook.received`` event is durably
in JetStream; a pipeline would work off the backlog on the same cores meanwhile).
Signed alerts (Standard Webhooks, HMAC-SHA256) are sent open loop by a lean sender;
for each ``--workers`` count (ingress processes sharing the port with SO_REUSEPORT,
``TRADEHOOKS_HTTP_WORKERS``) a fresh system takes a capacity run at ``--capacity-rate``
and a latency run at ``--latency-rate``.

    make bench-ingress
    .venv/bin/python -m bench.ingress --workers 1 2 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bench.alerts import round_robin
from bench.phases import print_phase, send_phase, verdict
from bench.results_file import save_results
from bench.rig import Rig, environment

TARGET_RATE = 3000.0
TARGET_P99_MS = 10.0


async def measure(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    """A warm-up, the capacity run and the latency run on ``rig``."""
    targets = await rig.targets(args.accounts)
    if args.warmup > 0:
        await send_phase(rig, round_robin(targets, int(args.latency_rate * args.warmup)),
                         args.latency_rate)
    capacity = await send_phase(
        rig, round_robin(targets, int(args.capacity_rate * args.seconds),
                          rate=args.capacity_rate), args.capacity_rate)
    latency = await send_phase(
        rig, round_robin(targets, int(args.latency_rate * args.seconds),
                          rate=args.latency_rate), args.latency_rate)
    all_202 = (capacity["statuses"].get("202", 0) == capacity["sent"]
               and latency["statuses"].get("202", 0) == latency["sent"])
    return {"capacity": capacity, "latency": latency,
            "target": {"all_202": all_202,
                       "rate_met": all_202 and capacity["accepted_per_s"] >= TARGET_RATE,
                       "p99_met": all_202 and latency["http"]["p99_ms"] < TARGET_P99_MS}}


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """A fresh nats-server and ingress per worker count."""
    out: dict[str, Any] = {"runs": []}
    for workers in args.workers:
        rig = await Rig.start(services=(), ingress_workers=workers)
        try:
            result = await measure(rig, args)
            result["ingress_workers"] = workers
            result["environment"] = environment(rig)
            out["runs"].append(result)
        finally:
            await rig.stop()
    return out


def print_table(result: dict[str, Any]) -> None:
    """Per worker count: the two runs and the verdicts."""
    for run in result["runs"]:
        target = run["target"]
        print(f"\ningress alone, {run['ingress_workers']} process(es): "
              f"≥ {TARGET_RATE:.0f} accepted/s {verdict(target['rate_met'])} "
              f"({run['capacity']['accepted_per_s']}/s), p99 < {TARGET_P99_MS:.0f} ms at "
              f"{run['latency']['rate']}/s {verdict(target['p99_met'])} "
              f"({run['latency']['http']['p99_ms']} ms)")
        print_phase(run["capacity"])
        print_phase(run["latency"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--capacity-rate", type=float, default=3500.0)
    parser.add_argument("--latency-rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--accounts", type=int, default=10)
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    """Run, print, save."""
    result = asyncio.run(run_all(args))
    result["settings"] = vars(args)
    print_table(result)
    save_results("ingress", result)
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
