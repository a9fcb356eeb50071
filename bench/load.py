"""Open-loop load on a locally started system: ingress accept rate and latency,
end-to-end latency to ``webhook.trade_executed``, peak RSS per service.

Latency is measured from each request's *scheduled* send time (open loop), so a
slow server cannot hide its queueing by slowing the sender down. Everything runs
on this machine: a private nats-server, the seven services, SQLite under a temp dir.
End-to-end runs come first; then the pipeline services are stopped and ingress is
measured alone (accepting means the alert is durably in JetStream; the pipeline
would otherwise work off the backlog on the same cores meanwhile).

    make bench                       # default rates and durations
    .venv/bin/python -m bench.load --rates 500 1000 --seconds 5 --e2e-rates 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import (  # noqa: E402
    TEST_MASTER_KEY,
    EventTap,
    System,
    connect_bus,
    provision,
    strategy_webhook_url,
)

from bench.results_file import save_results  # noqa: E402
from contracts.events import TradeExecuted  # noqa: E402
from libs.runtime.embedded_nats import EmbeddedNats, free_port  # noqa: E402
from services.ingress.auth.signatures import sign  # noqa: E402


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) in milliseconds, 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index] * 1000


def stage_latencies(tap: EventTap, signals: set[str]) -> dict[str, float]:
    """Median time between consecutive lifecycle events, per stage, in ms."""
    order = ["webhook.received", "webhook.validated", "order.requested",
             "webhook.trade_executed"]
    times: dict[str, dict[str, float]] = {}
    for event in tap.events:
        if event.signal_id in signals:
            kind = type(event).__struct_config__.tag
            times.setdefault(event.signal_id, {})[str(kind)] = event.occurred_at.timestamp()
    out: dict[str, float] = {}
    for before, after in itertools.pairwise(order):
        deltas = [t[after] - t[before] for t in times.values() if before in t and after in t]
        out[after] = round(statistics.median(deltas) * 1000, 1) if deltas else 0.0
    return out


def rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


Target = tuple[str, str]  # webhook URL and the strategy's secret


def signed_requests(targets: list[Target],
                    count: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """``count`` distinct signed alerts spread round-robin over ``targets``, built
    before the clock starts so the sender spends its CPU on sending (the signatures
    stay valid for the 5-minute tolerance)."""
    ts = int(time.time())
    out = []
    for n in range(count):
        url, secret = targets[n % len(targets)]
        body = orjson.dumps({"alertId": f"b-{uuid.uuid4().hex}", "action": "buy",
                             "symbol": "AAPL", "price": "100", "quantity": "1"})
        msg_id = f"msg_{uuid.uuid4().hex}"
        out.append((url, body, {"webhook-id": msg_id, "webhook-timestamp": str(ts),
                           "webhook-signature": sign(secret, msg_id, ts, body),
                           "Content-Type": "application/json"}))
    return out


async def open_loop(targets: list[Target], rate: int, seconds: float,
                    session: aiohttp.ClientSession) -> dict[str, Any]:
    """Send ``rate`` signed alerts per second for ``seconds``; measure each answer."""
    total = int(rate * seconds)
    requests = signed_requests(targets, total)
    start = time.perf_counter() + 0.2
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    accepted: dict[str, float] = {}

    async def one(i: int) -> None:
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        url, body, headers = requests[i]
        try:
            async with session.post(url, data=body, headers=headers) as resp:
                payload = await resp.json()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
                if resp.status == 202:
                    accepted[payload["signal_id"]] = scheduled
        except aiohttp.ClientError:
            statuses[0] = statuses.get(0, 0) + 1
        latencies.append(time.perf_counter() - scheduled)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(total)))
    elapsed = time.perf_counter() - began
    return {"rate": rate, "sent": total, "statuses": statuses,
            "accepted_per_s": round(statuses.get(202, 0) / elapsed, 1),
            "p50_ms": round(percentile(latencies, 50), 2),
            "p99_ms": round(percentile(latencies, 99), 2),
            "p999_ms": round(percentile(latencies, 99.9), 2),
            "_accepted": accepted}


async def bench_targets(bus: Any, api_url: str, accounts: int) -> list[Target]:
    """Fresh tenants, each with a paper account and a strategy sized by the alert."""
    out = []
    for _ in range(accounts):
        t = await provision(bus, sizing_mode="alert_contracts", max_order_notional=None)
        out.append((strategy_webhook_url(api_url, t.strategy, token=False),
                    t.strategy.secret))
    return out


async def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("TRADEHOOKS_MASTER_KEY", TEST_MASTER_KEY)
    tmp = Path(tempfile.mkdtemp(prefix="tradehooks-bench-"))
    nats = EmbeddedNats(tmp / "nats", port=free_port())
    await nats.start()
    data = tmp / "data"
    data.mkdir()
    system = System(nats=nats, data_dir=data, database_url="", http_port=free_port())
    workers = {"TRADEHOOKS_HTTP_WORKERS": str(args.ingress_workers)}
    for service in ("auditor", "validator", "risk", "executor", "sl-tp-monitor", "ingress"):
        system.start(service, **workers)
    for n in range(2, args.ingress_workers + 1):
        system.start("ingress", f"ingress-{n}", **workers)
    bus = await connect_bus(nats.url)
    tap = EventTap(bus)
    results: dict[str, Any] = {"ingress": [], "end_to_end": [], "rss_mb": {},
                               "settings": {"accounts": args.accounts,
                                            "ingress_workers": args.ingress_workers,
                                            "seconds": args.seconds, "cores": os.cpu_count()}}
    try:
        await system.wait_ready()
        await tap.start()
        connector = aiohttp.TCPConnector(limit=256)
        async with aiohttp.ClientSession(connector=connector) as session:
            for rate in args.e2e_rates:
                targets = await bench_targets(bus, system.api_url, args.accounts)
                row = await open_loop(targets, rate, args.seconds, session)
                accepted = row.pop("_accepted")
                with contextlib.suppress(AssertionError):  # report what arrived
                    await tap.wait_for(
                        lambda _, ids=accepted: all(tap.terminal(s) for s in ids),
                        args.drain_timeout)
                done = {e.signal_id: e for e in tap.events
                        if isinstance(e, TradeExecuted) and e.signal_id in accepted}
                # Terminal time as recorded by the executor, against the scheduled send.
                offset = time.time() - time.perf_counter()
                e2e = [done[s].occurred_at.timestamp() - (accepted[s] + offset) for s in done]
                stages = stage_latencies(tap, set(accepted))
                results["end_to_end"].append({
                    "rate": rate, "accepted": len(accepted), "executed": len(done),
                    "stage_p50_ms": stages,
                    "lost": len([s for s in accepted if not tap.terminal(s)]),
                    "p50_ms": round(percentile(e2e, 50), 1),
                    "p99_ms": round(percentile(e2e, 99), 1)})
            for name, proc in system.processes.items():
                results["rss_mb"][name] = round(rss_mb(proc.pid), 1)
            # Ingress alone: the pipeline would otherwise work off the backlog these
            # runs leave on the same two cores while ingress is being measured.
            for name in [n for n in system.processes if not n.startswith("ingress")]:
                system.terminate(name)
            for rate in args.rates:
                targets = await bench_targets(bus, system.api_url, args.accounts)
                row = await open_loop(targets, rate, args.seconds, session)
                row.pop("_accepted")
                results["ingress"].append(row)
        for name, proc in system.processes.items():
            if name.startswith("ingress"):
                results["rss_mb"][name] = round(rss_mb(proc.pid), 1)
    finally:
        await tap.stop()
        await bus.close()
        system.stop_all()
        nats.stop()
    print_table(results)
    save_results("load", results)
    return 0


def print_table(results: dict[str, Any]) -> None:
    """Human-readable summary."""
    print(f"\nsettings: {results['settings']}")
    print("\ningress (HMAC auth, durable publish, open loop)")
    print(f"{'rate/s':>8} {'sent':>6} {'accepted/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'p99.9 ms':>9}  statuses")
    for r in results["ingress"]:
        print(f"{r['rate']:>8} {r['sent']:>6} {r['accepted_per_s']:>11} {r['p50_ms']:>8} "
              f"{r['p99_ms']:>8} {r['p999_ms']:>9}  {r['statuses']}")
    print("\nend to end (request -> webhook.trade_executed, paper broker)")
    print(f"{'rate/s':>8} {'accepted':>9} {'executed':>9} {'lost':>5} {'p50 ms':>8} "
          f"{'p99 ms':>8}")
    for r in results["end_to_end"]:
        print(f"{r['rate']:>8} {r['accepted']:>9} {r['executed']:>9} {r['lost']:>5} "
              f"{r['p50_ms']:>8} {r['p99_ms']:>8}  stage p50 ms: {r['stage_p50_ms']}")
    print("\npeak RSS (MB): " + ", ".join(f"{k} {v}" for k, v in results["rss_mb"].items()))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", type=int, nargs="*", default=[500, 1000, 2000])
    parser.add_argument("--e2e-rates", type=int, nargs="*", default=[200, 500])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--drain-timeout", type=float, default=120.0,
                        help="how long to wait for an end-to-end run's signals to end")
    parser.add_argument("--accounts", type=int, default=10,
                        help="accounts the alerts are spread over (each its own strategy; "
                        "one account's signals are handled in order, different "
                        "accounts in parallel)")
    parser.add_argument("--ingress-workers", type=int, default=1,
                        help="ingress processes sharing the port (TRADEHOOKS_HTTP_WORKERS)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
