"""End-to-end latency at a steady rate (issue 14: p99 from the HTTP request to
``webhook.trade_executed`` under 50 ms at 200 signals/s).

Open loop: request ``i`` is due at ``start + i / rate`` and its latency counts from
that moment to the ``occurred_at`` the executor gave the trade (one machine, one
clock), so queueing anywhere (sender, ingress, the stages) counts. The pipeline and a
private nats-server run as processes; ``--warmup`` seconds at the same rate come first
and are not counted (fresh processes, fresh accounts). Where the time goes is read
back from the stream afterwards: per hop (received → validated → order.requested →
trade_executed), the time in the stage (fetch, queueing, handling) and the publish.

    make bench-latency
    .venv/bin/python -m bench.latency --rate 200 --seconds 10
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.alerts import round_robin
from bench.phases import main, print_phase, send_phase, verdict
from bench.rig import Rig, hop_latencies
from contracts import streams

TARGET_P99_MS = 50.0


async def start(args: argparse.Namespace) -> Rig:
    """The pipeline and ``--ingress-workers`` ingress processes."""
    return await Rig.start(ingress_workers=args.ingress_workers)


async def measure(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    """A warm-up, then the measured run; the target's verdict."""
    targets = await rig.targets(args.accounts)
    if args.warmup > 0:
        warmup = round_robin(targets, int(args.rate * args.warmup), rate=args.rate)
        await send_phase(rig, warmup, args.rate, drain_timeout=args.drain_timeout)
    first_seq = (await rig.bus.js.stream_info(streams.STREAM)).state.last_seq + 1
    row = await send_phase(rig, round_robin(targets, int(args.rate * args.seconds), rate=args.rate),
                           args.rate, drain_timeout=args.drain_timeout)
    row["hops"] = await hop_latencies(rig.bus, first_seq)
    p99 = row["to_trade_executed"]["p99_ms"]
    row["target"] = {"p99_ms": TARGET_P99_MS,
                     "met": row["outcome"]["not_ended"] == 0
                     and row["outcome"]["executed"] == row["sent"] and p99 < TARGET_P99_MS}
    return row


def print_table(result: dict[str, Any]) -> None:
    """The run and its verdict."""
    e2e = result["to_trade_executed"]
    print(f"\nlatency at {result['rate']}/s over {result['settings']['accounts']} accounts: "
          f"request -> webhook.trade_executed p99 {e2e['p99_ms']} ms "
          f"(target < {TARGET_P99_MS:.0f} ms): {verdict(result['target']['met'])}")
    print_phase(result)
    for hop, times in result["hops"].items():
        stage, publish = times["in_stage"], times["to_stream"]
        print(f"  {hop}: in the stage p50 {stage['p50_ms']} ms, p99 {stage['p99_ms']} ms; "
              f"to the stream p50 {publish['p50_ms']} ms, p99 {publish['p99_ms']} ms")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--ingress-workers", type=int, default=1)
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main("latency", measure, start, print_table, parse_args()))
