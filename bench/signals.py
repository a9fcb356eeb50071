"""Signal history bench: one page of 50 from 1,000,000 stored signals (target < 50 ms).

A fresh signal history per backend is filled in bulk with rows as the projector
writes them (setup, not measured): 20 tenants, 300 accounts, 600 strategies, 50
symbols, 30 days, 80 % executed, 18 % failed, 2 % still in the pipeline. Then each
query shape the API answers runs ``--repeats`` times (first page, a deep cursor,
every filter, a time window, a search) and the bench prints its wall time (median
and worst) and the CPU seconds the querying process spent, saved as JSON under
``bench/results/``.

    make bench                                     # every bench
    .venv/bin/python -m bench.signals --signals 100000 --backends sqlite
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from bench.results_file import save_results
from cli.progress import ProgressBar
from projections.persistence import parse_store_url
from projections.signal_store import SignalQuery, SignalStore, open_signal_store
from projections.signals import SignalRow, to_us

TARGET_MS = 50.0
DEFAULT_POSTGRES = os.environ.get("TRADEHOOKS_BENCH_POSTGRES",
                                  "postgresql://postgres@127.0.0.1:5432/test")
START = datetime(2026, 11, 1, tzinfo=UTC)
CODES = ("no_position", "max_order_notional", "paused", "require_stop_loss", "size_zero")


def rows(count: int, seed: int = 7) -> Iterator[list[SignalRow]]:
    """``count`` rows in store order, in batches of 10,000."""
    rng = random.Random(seed)
    span_us = 30 * 86_400 * 1_000_000
    batch: list[SignalRow] = []
    for n in range(count):
        account = rng.randrange(300)
        received = START + timedelta(microseconds=n * span_us // count)
        roll = rng.random()
        status = "executed" if roll < 0.8 else "failed" if roll < 0.98 else "accepted"
        sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        coid = f"strategy-{account * 2}-{int(received.timestamp())}-{sid[:8]}"
        row = SignalRow(
            signal_id=sid, tenant_id=f"tenant-{account % 20}",
            strategy_id=f"strategy-{account * 2 + rng.randrange(2)}",
            account_id=f"account-{account}", symbol=f"SYM{rng.randrange(50)}",
            side=rng.choice(("buy", "sell")), intent="enter_long", dialect="exchange",
            status=status, stage={"executed": "executed", "failed": "risk",
                                  "accepted": "ordered"}[status],
            code=rng.choice(CODES) if status == "failed" else "",
            reason="refused" if status == "failed" else "",
            received_at=received, seq=3 * n + 1, pos=3 * n + 3,
            client_order_id=coid if status != "failed" else "",
            order_id=str(uuid.UUID(int=rng.getrandbits(128))) if status == "executed" else "",
            quantity=Decimal(rng.randrange(1, 100)),
            fill_price=Decimal("101.25") if status == "executed" else None,
            fill_quantity=Decimal(5) if status == "executed" else None,
            fills=1 if status == "executed" else 0,
        )
        if status != "accepted":
            row.terminal_at = received + timedelta(milliseconds=40)
            row.latency_ms = 40.0
        batch.append(row)
        if len(batch) == 10_000:
            yield batch
            batch = []
    if batch:
        yield batch


def fill(store: SignalStore, count: int) -> float:
    """Write ``count`` rows; seconds it took."""
    bar = ProgressBar(count, "fill", unit="signals") if sys.stderr.isatty() else None
    started = time.perf_counter()
    written = 0
    for batch in rows(count):
        store.save(batch, [], batch[-1].pos)
        written += len(batch)
        if bar:
            bar.update(written, written)
    if bar:
        bar.close()
    return time.perf_counter() - started


def shapes(count: int) -> dict[str, SignalQuery]:
    """The query shapes measured (the cursor sits in the middle of the history)."""
    middle_us = to_us(START + timedelta(days=15))
    return {
        "first page (global key)": SignalQuery(),
        "first page of a tenant": SignalQuery(tenant_id="tenant-7"),
        "deep cursor of a tenant": SignalQuery(tenant_id="tenant-7",
                                               before=(middle_us, 3 * count // 2)),
        "strategy": SignalQuery(tenant_id="tenant-7", strategy_id="strategy-14"),
        "account + status failed": SignalQuery(account_id="account-7", status="failed"),
        "status failed (global)": SignalQuery(status="failed"),
        "symbol": SignalQuery(tenant_id="tenant-7", symbol="SYM3"),
        "one day window": SignalQuery(tenant_id="tenant-7", since_us=middle_us,
                                       until_us=middle_us + 86_400_000_000),
        "search a failure code": SignalQuery(tenant_id="tenant-7", q="no_position"),
        "live stream catch-up": SignalQuery(),  # changed_since, measured apart
    }


def measure(run: Callable[[], list[Any]], repeats: int) -> dict[str, float]:
    """Median and worst wall milliseconds, and CPU seconds of all the runs."""
    run()  # one warm-up: connection and statement caches, as a live server has them
    walls = []
    cpu_before = time.process_time()
    for _ in range(repeats):
        started = time.perf_counter()
        found = run()
        walls.append((time.perf_counter() - started) * 1000)
        assert found, "a bench query found nothing"
    return {"median_ms": round(statistics.median(walls), 2), "max_ms": round(max(walls), 2),
            "cpu_s": round(time.process_time() - cpu_before, 3), "rows": len(found)}


def bench_backend(name: str, url: str, count: int, repeats: int) -> dict[str, Any]:
    """Fill one backend and time every shape."""
    store = open_signal_store(parse_store_url(url))
    try:
        print(f"{name}: filling {count:,} signals …", flush=True)
        fill_s = fill(store, count)
        out: dict[str, Any] = {"fill_seconds": round(fill_s, 1), "queries": {}}
        for label, query in shapes(count).items():
            if label == "live stream catch-up":
                result = measure(lambda: store.changed_since(3 * count - 300, None), repeats)
            else:
                result = measure(lambda q=query: store.page(q), repeats)  # type: ignore[misc]
            out["queries"][label] = result
        return out
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    results: dict[str, Any] = {"signals": args.signals, "page": 50, "target_ms": TARGET_MS,
                               "backends": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                url = f"sqlite:///{tmp}/events.sqlite"
            else:
                schema = f"bench_signals_{uuid.uuid4().hex[:8]}"
                url = f"{DEFAULT_POSTGRES}?schema={schema}"
            try:
                results["backends"][backend] = bench_backend(backend, url, args.signals,
                                                             args.repeats)
            finally:
                if backend != "sqlite":
                    with psycopg.connect(DEFAULT_POSTGRES, autocommit=True) as conn:
                        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    print(f"\nsignal history: a page of 50 from {args.signals:,} signals "
          f"({args.repeats} runs each; target < {TARGET_MS:.0f} ms)")
    for backend, data in results["backends"].items():
        print(f"\n{backend} (filled in {data['fill_seconds']} s)")
        print(f"  {'query':<28} {'median ms':>10} {'max ms':>8} {'CPU s':>7}  met")
        for label, r in data["queries"].items():
            met = "yes" if r["max_ms"] < TARGET_MS else "NO"
            print(f"  {label:<28} {r['median_ms']:>10} {r['max_ms']:>8} {r['cpu_s']:>7}  {met}")
    save_results("signals", results)


if __name__ == "__main__":
    main()
