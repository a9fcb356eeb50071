"""One measured load phase on a :class:`~bench.rig.Rig`, and how a benchmark module
runs on its own (``python -m bench.<name>``): start a rig, measure, print, save JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.alerts import Alert
from bench.http_client import OpenLoop
from bench.results_file import save_results
from bench.rig import Rig, cpu_per_signal, environment, latency_summary, load_average


async def send_phase(rig: Rig, alerts: list[Alert], rate: float, *,
                     drain_timeout: float | None = None,
                     max_connections: int = 256) -> dict[str, Any]:
    """Send ``alerts`` open loop at ``rate``/s; with ``drain_timeout``, wait (that long
    at most) until every accepted signal ended. Measures HTTP answers, request → end
    times (from each request's due moment to the terminal event's ``occurred_at``),
    what the stream shows and CPU per accepted signal of every process."""
    load_before = load_average()
    before = rig.cpu()
    sender = OpenLoop("127.0.0.1", rig.http_port, max_connections=max_connections)
    wall_offset = time.time() - time.perf_counter()
    try:
        answered_in = await sender.run(alerts, rate)
    finally:
        sender.close()
    answers = sender.answers
    accepted = {a.signal_id: a.due + wall_offset for a in answers if a.status == 202}
    statuses: dict[str, int] = {}
    for a in answers:
        statuses[str(a.status)] = statuses.get(str(a.status), 0) + 1
    row: dict[str, Any] = {
        "rate": rate, "sent": len(alerts), "statuses": statuses,
        "accepted_per_s": round(len(accepted) / answered_in, 1) if answered_in else 0.0,
        "http": latency_summary([a.latency for a in answers]),
    }
    if drain_timeout is not None:
        await rig.watch.wait(set(accepted), drain_timeout)
        ended = {s: rig.watch.ended[s] for s in accepted if s in rig.watch.ended}
        first_due = min(accepted.values(), default=0.0)
        last_end = max((seen for _, _, seen in ended.values()), default=first_due)
        row["outcome"] = rig.watch.outcome(set(accepted))
        row["ended_per_s"] = (round(len(ended) / (last_end - first_due), 1)
                              if last_end > first_due else 0.0)
        row["last_end_after_s"] = round(last_end - first_due, 2)
        row["to_trade_executed"] = latency_summary(
            [at - accepted[s] for s, (kind, at, _) in ended.items()
             if kind == "webhook.trade_executed"])
        row["to_terminal"] = latency_summary([at - accepted[s] for s, (_, at, _)
                                              in ended.items()])
    row["cpu"] = cpu_per_signal(before, rig.cpu(), len(accepted))
    row["load_average"] = {"before": load_before, "after": load_average()}
    return row


Measure = Callable[[Rig, argparse.Namespace], Awaitable[dict[str, Any]]]


def main(name: str, measure: Measure, start: Callable[[argparse.Namespace], Awaitable[Rig]],
         printer: Callable[[dict[str, Any]], None], args: argparse.Namespace) -> int:
    """Run one benchmark on its own rig: results printed and saved under
    ``bench/results/<name>-<time>.json``; exit status 0 even when a target is missed
    (the table says so)."""

    async def _run() -> dict[str, Any]:
        rig = await start(args)
        try:
            result = await measure(rig, args)
            result["environment"] = environment(rig)
        finally:
            await rig.stop()
        return result

    result = asyncio.run(_run())
    result["settings"] = {k: v for k, v in vars(args).items()}
    printer(result)
    save_results(name, result)
    return 0


def verdict(met: bool) -> str:
    """How a table shows a target."""
    return "met" if met else "MISSED"


def print_phase(row: dict[str, Any], indent: str = "  ") -> None:
    """A phase as a few lines."""
    http = row["http"]
    print(f"{indent}offered {row['rate']}/s, sent {row['sent']}, statuses {row['statuses']}, "
          f"accepted {row['accepted_per_s']}/s; HTTP p50 {http['p50_ms']} ms, "
          f"p99 {http['p99_ms']} ms, max {http['max_ms']} ms")
    if "outcome" in row:
        e2e = row["to_trade_executed"]
        print(f"{indent}stream: {row['outcome']}; ended {row['ended_per_s']}/s, last "
              f"{row['last_end_after_s']} s after the first request; request -> "
              f"trade_executed p50 {e2e['p50_ms']} ms, p99 {e2e['p99_ms']} ms, "
              f"max {e2e['max_ms']} ms")
    cpu = row["cpu"]
    parts = ", ".join(f"{k} {v}" for k, v in cpu["per_process_ms"].items()
                      if not k.startswith("bench"))
    print(f"{indent}CPU ms/signal: {parts}; total {cpu['total_ms']} "
          f"(generator {cpu['bench_ms']}); load {row['load_average']}")
