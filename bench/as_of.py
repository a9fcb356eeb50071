"""As-of bench: an account with 100,000 stored events, asked what it looked like at
random past moments (target: under 200 ms an answer), on SQLite and PostgreSQL.

Setup (timed, not the target): the account's history — opened, then fills in and
out of a few symbols, a resting order now and then — is written in bulk, and the
timeline is indexed as the auditor would (a snapshot every 250 account events).
Measured: ``account_as_of`` (the code behind ``GET /api/v1/accounts/{id}?as_of=``
and ``tradehooks account-at``) for random store positions and random times. Prints
a table and saves JSON under ``bench/results/``.

    .venv/bin/python -m bench.as_of --events 100000 --backends sqlite
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent

from bench.replay import DEFAULT_POSTGRES, drop_schema, new_schema
from bench.replay_fill import write_rows
from bench.results_file import save_results
from contracts.events import (
    AccountOpened,
    AnyEvent,
    OrderPlaced,
    TradeExecuted,
    event_to_builtins,
    event_type,
)
from contracts.orders import BrokerOrder, Fill
from projections.as_of import account_as_of
from projections.persistence import parse_store_url
from projections.store import EventStore, open_store
from projections.timeline import instant
from projections.timeline_projector import TimelineProjector
from projections.timeline_store import open_timeline
from projections.trails import Trail

TARGET_MS = 200.0
START = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
ACCOUNT = "acc-bench"
SYMBOLS = ("AAPL", "MSFT", "NVDA", "SPY")


def history(events: int, seed: int = 16) -> Iterator[AnyEvent]:
    """One account's events: opened, then fills; every 50th signal rests at the broker
    first (a limit order) and fills with the next event."""
    rng = random.Random(seed)
    base: dict[str, Any] = {"tenant_id": "bench", "strategy_id": "strat-bench",
                            "account_id": ACCOUNT, "broker": "paper"}
    yield AccountOpened(event_id="opened", signal_id="", tenant_id="bench",
                        occurred_at=START, account_id=ACCOUNT, name="Bench", broker="paper",
                        currency="USD", starting_cash=Decimal(1_000_000),
                        record={"id": ACCOUNT, "tenant_id": "bench", "name": "Bench"})
    for n in range(1, events):
        at = START + timedelta(seconds=n)
        symbol = rng.choice(SYMBOLS)
        side = rng.choice(("buy", "sell"))
        price = Decimal(1000 + rng.randint(-500, 500)) / 10
        cid = f"bench-{n - 1}" if n % 50 == 1 else f"bench-{n}"  # fills the resting one
        if n % 50 == 0:
            order = BrokerOrder(order_id=f"o-{n}", client_order_id=cid, symbol=symbol,
                                side=side, quantity=Decimal(1), order_type="limit",
                                status="open", submitted_at=at, limit_price=price)
            yield OrderPlaced(event_id=f"p-{n}", signal_id=f"s-{n}", occurred_at=at,
                              order=order, **base)
            continue
        fill = Fill(order_id=f"o-{n}", client_order_id=cid, symbol=symbol, side=side,
                    quantity=Decimal(rng.randint(1, 5)), average_price=price,
                    fee=Decimal("0.10"), filled_at=at)
        yield TradeExecuted(event_id=f"e-{n}", signal_id=f"s-{n}", occurred_at=at, fill=fill,
                            **base)


def fill_store(store: EventStore, events: int, size: int = 20_000) -> None:
    """Write the history as ``append`` would store it (one trail per signal)."""
    pending: list[StoredEvent] = []
    for ev in history(events):
        trail = Trail(ev.signal_id or ev.event_id)
        trail.record(event_id=ev.event_id, event_type=event_type(ev),
                     body=event_to_builtins(ev))
        pending.extend(store.mapper.to_stored_event(d) for d in trail.collect_events())
        if len(pending) >= size:
            write_rows(store, pending)
            pending = []
    if pending:
        write_rows(store, pending)


def run_backend(url: str, events: int, queries: int) -> dict[str, Any]:
    """Fill, index, then time random as-of questions."""
    store = open_store(url)
    timeline = open_timeline(parse_store_url(url))
    try:
        started = time.perf_counter()
        fill_store(store, events)
        filled = time.perf_counter() - started
        started = time.perf_counter()
        TimelineProjector(store, timeline).catch_up()
        indexed = time.perf_counter() - started
        rng = random.Random(7)
        head = store.max_position()
        timings: dict[str, list[float]] = {"position": [], "time": []}
        for _ in range(queries):
            for kind in timings:
                moment: int | str = rng.randint(2, head) if kind == "position" else \
                    instant(START + timedelta(seconds=rng.uniform(1, events)))
                t = time.perf_counter()
                body = account_as_of(store, timeline, ACCOUNT, moment, str(moment))
                timings[kind].append((time.perf_counter() - t) * 1000)
                assert body is not None
        return {"fill_seconds": round(filled, 1), "index_seconds": round(indexed, 1),
                "stored_rows": head,
                **{kind: {"p50_ms": round(statistics.median(ms), 1),
                          "max_ms": round(max(ms), 1)} for kind, ms in timings.items()}}
    finally:
        timeline.close()
        store.close()


def main(args: argparse.Namespace) -> int:
    """Every backend asked, one table."""
    results: dict[str, Any] = {"events": args.events, "queries": args.queries,
                               "target_ms": TARGET_MS, "backends": {},
                               "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with tempfile.TemporaryDirectory(prefix="th-asof-") as tmp:
        for backend in args.backends:
            made = None
            if backend == "sqlite":
                url = f"sqlite:///{Path(tmp) / 'events.sqlite'}"
            else:
                made = new_schema(args.postgres)
                if made is None:
                    continue
                url = made[0]
            try:
                results["backends"][backend] = run_backend(url, args.events, args.queries)
            finally:
                if made:
                    drop_schema(args.postgres, made[1])
    print(f"\nas-of answers on one account of {args.events:,} events "
          f"({args.queries} random positions and times each; target {TARGET_MS:.0f} ms)")
    print(f"{'backend':<9} {'by':<9} {'p50 ms':>7} {'max ms':>7} {'target':>7}   setup")
    for backend, r in results["backends"].items():
        for kind in ("position", "time"):
            ok = "ok" if r[kind]["max_ms"] < TARGET_MS else "MISSED"
            print(f"{backend:<9} {kind:<9} {r[kind]['p50_ms']:>7} {r[kind]['max_ms']:>7} "
                  f"{ok:>7}   fill {r['fill_seconds']} s, index {r['index_seconds']} s")
    save_results("as_of", results)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--backends", nargs="*", choices=["sqlite", "postgres"],
                        default=["sqlite", "postgres"])
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(parse_args()))
