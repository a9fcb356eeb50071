"""CPU seconds per signal, per process, and whether it stays flat as an account trades.

A locally started system (private nats-server, the seven services, SQLite) takes
signals in windows: each window posts ``--window`` alerts with ``--concurrency``
keep-alive connections and waits until every one of them ended (a terminal event),
then reads every process's CPU time from ``/proc`` (user + system, the nats-server
included). CPU time, unlike wall time, survives a noisy machine.

Two runs: ``one account`` (every alert on one account: the cost should not grow with
its history) and ``spread`` (the same number over ``--accounts`` accounts). The
alerts alternate buy and sell of one contract, so the account trades all day without
running out of buying power.

    make bench-cpu
    .venv/bin/python -m bench.cpu --windows 5 --window 1000 --accounts 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import TEST_MASTER_KEY, System, connect_bus, provision  # noqa: E402

from bench.results_file import save_results  # noqa: E402
from contracts import subjects  # noqa: E402
from libs.runtime.bus import Bus  # noqa: E402
from libs.runtime.embedded_nats import EmbeddedNats, free_port  # noqa: E402
from services.ingress.auth.signatures import sign  # noqa: E402

SERVICES = ("auditor", "validator", "risk", "executor", "sl-tp-monitor", "ingress")
TICKS = os.sysconf("SC_CLK_TCK")


class _SignalOf(msgspec.Struct):
    signal_id: str = ""


_signal_of = msgspec.json.Decoder(_SignalOf)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Terminals:
    """Counts the signals that ended (a core subscription to the terminal subjects)."""

    def __init__(self) -> None:
        self.ended: set[str] = set()
        self.changed = asyncio.Event()

    async def start(self, bus: Bus) -> None:
        """Subscribe to ``webhook.trade_executed`` and ``webhook.failed``."""
        async def on_message(msg: Any) -> None:
            self.ended.add(_signal_of.decode(msg.data).signal_id)
            self.changed.set()

        for subject in (subjects.TRADE_EXECUTED, subjects.FAILED):
            await bus.nc.subscribe(subject, cb=on_message)

    async def wait(self, ids: set[str], timeout: float) -> int:
        """Wait until every id ended (or ``timeout``); how many did not."""
        deadline = time.monotonic() + timeout
        while not ids <= self.ended:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
        return len(ids - self.ended)


def alert(secret: str, url: str, n: int) -> tuple[str, bytes, dict[str, str]]:
    """The ``n``-th alert of an account: buy on even, sell on odd (one contract)."""
    body = orjson.dumps({"alertId": f"c-{uuid.uuid4().hex}",
                         "action": "buy" if n % 2 == 0 else "sell",
                         "symbol": "AAPL", "price": "100", "quantity": "1"})
    msg_id, ts = f"msg_{uuid.uuid4().hex}", int(time.time())
    return url, body, {"webhook-id": msg_id, "webhook-timestamp": str(ts),
                       "webhook-signature": sign(secret, msg_id, ts, body),
                       "Content-Type": "application/json"}


async def post_window(session: aiohttp.ClientSession, targets: list[tuple[str, str]],
                      first: int, count: int, concurrency: int) -> set[str]:
    """Post ``count`` alerts round-robin over ``targets``; the accepted signal ids."""
    accepted: set[str] = set()
    queue = iter(range(first, first + count))

    async def worker() -> None:
        for n in queue:
            url, secret = targets[n % len(targets)]
            url, body, headers = alert(secret, url, n // len(targets))
            async with session.post(url, data=body, headers=headers) as resp:
                payload = await resp.json()
                if resp.status == 202:
                    accepted.add(payload["signal_id"])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted


def cpu_of(system: System, nats: EmbeddedNats) -> dict[str, float]:
    """CPU seconds of every service process and the nats-server."""
    out = {name: cpu_seconds(proc.pid) for name, proc in system.processes.items()}
    assert nats.process is not None
    out["nats-server"] = cpu_seconds(nats.process.pid)
    return out


async def run(name: str, accounts: int, args: argparse.Namespace) -> dict[str, Any]:
    """One fresh system; ``windows`` windows of signals over ``accounts`` accounts."""
    tmp = Path(tempfile.mkdtemp(prefix="tradehooks-cpu-"))
    nats = EmbeddedNats(tmp / "nats", port=free_port())
    await nats.start()
    data = tmp / "data"
    data.mkdir()
    system = System(nats=nats, data_dir=data, database_url="", http_port=free_port())
    for service in SERVICES:
        system.start(service)
    bus = await connect_bus(nats.url)
    terminals = Terminals()
    rows: list[dict[str, Any]] = []
    try:
        await system.wait_ready()
        await terminals.start(bus)
        targets = []
        for _ in range(accounts):
            t = await provision(bus, sizing_mode="alert_contracts", max_order_notional=None)
            targets.append((f"{system.api_url}/webhook/{t.strategy.slug}",
                            t.strategy.secret))
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=args.concurrency)) as session:
            before = cpu_of(system, nats)
            for window in range(args.windows):
                began = time.perf_counter()
                ids = await post_window(session, targets, window * args.window,
                                        args.window, args.concurrency)
                lost = await terminals.wait(ids, args.drain_timeout)
                seconds = time.perf_counter() - began
                after = cpu_of(system, nats)
                per = {k: round((after[k] - before[k]) / len(ids) * 1000, 2)
                       for k in after}
                rows.append({"signals_before": window * args.window,
                             "accepted": len(ids), "not_ended": lost,
                             "signals_per_s": round(len(ids) / seconds, 1),
                             "cpu_ms_per_signal": per,
                             "total_cpu_ms": round(sum(per.values()), 2)})
                print(f"  {name}: window {window + 1}/{args.windows}: "
                      f"{rows[-1]['total_cpu_ms']} ms CPU/signal, "
                      f"{rows[-1]['signals_per_s']} signals/s", flush=True)
                before = after
    finally:
        await bus.close()
        system.stop_all()
        nats.stop()
    first, last = rows[0]["total_cpu_ms"], rows[-1]["total_cpu_ms"]
    return {"run": name, "accounts": accounts, "windows": rows,
            "growth": round(last / first, 2) if first else 0.0}


def print_table(results: list[dict[str, Any]]) -> None:
    """Per run, per window: CPU ms per signal of every process and in all."""
    for result in results:
        names = list(result["windows"][0]["cpu_ms_per_signal"])
        print(f"\n{result['run']} ({result['accounts']} account(s)): CPU ms per signal; "
              f"last window / first = {result['growth']}")
        print(f"{'after':>8} {'sig/s':>7} " + " ".join(f"{n[:9]:>9}" for n in names)
              + f" {'total':>7}")
        for row in result["windows"]:
            print(f"{row['signals_before']:>8} {row['signals_per_s']:>7} "
                  + " ".join(f"{row['cpu_ms_per_signal'][n]:>9}" for n in names)
                  + f" {row['total_cpu_ms']:>7}"
                  + (f"  ({row['not_ended']} not ended)" if row["not_ended"] else ""))


async def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("TRADEHOOKS_MASTER_KEY", TEST_MASTER_KEY)
    results = [await run("one account", 1, args),
               await run("spread", args.accounts, args)]
    print_table(results)
    save_results("cpu", {"settings": vars(args), "cores": os.cpu_count(),
                         "runs": results})
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--window", type=int, default=1000, help="signals per window")
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
