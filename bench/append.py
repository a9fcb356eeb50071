"""Append bench: what the tamper-evidence chain costs the auditor's writes.

The auditor stores each batch of events in one transaction (``EventStore.append``).
Here the same history is appended in batches of 256 to a store with the chain and to
one without it (eventsourcing's own recorder), on SQLite and PostgreSQL, and the cost
per event is reported for the first and the last tenth of the batches: the chain adds
two indexed reads and one insert per batch, so it must not grow with the store. On
a shared machine the two runs' wall times differ by more than the chain costs, so the
time spent extending the chain is also measured inside the chained run (``chain %``).
Prints a table and saves JSON under ``bench/results/``.

    .venv/bin/python -m bench.append --events 50000 --backends sqlite
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.replay import DEFAULT_POSTGRES, drop_schema, new_schema
from bench.replay_fill import History, waves
from bench.results_file import save_results
from contracts.events import AnyEvent
from projections import chain
from projections.persistence import eventsourcing_env, parse_store_url
from projections.store import EventStore, open_store

BATCH = 256


def batches(events: int) -> list[list[AnyEvent]]:
    """The history in the auditor's batch size (made before timing)."""
    flat = [ev for wave in waves(History(accounts=100), events) for ev in wave]
    return [flat[i:i + BATCH] for i in range(0, len(flat), BATCH)]


def timed_appends(store: EventStore, work: list[list[AnyEvent]]) -> list[float]:
    """Seconds per event of each batch's append."""
    out = []
    for batch in work:
        started = time.perf_counter()
        store.append(batch)
        out.append((time.perf_counter() - started) / len(batch))
    return out


class ChainTimer:
    """Adds up the time spent extending the chain (wraps the recorder's call)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.original = chain.extend_chain_with

    def __enter__(self) -> ChainTimer:
        def timed(*args: Any, **kwargs: Any) -> int:
            started = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        chain.extend_chain_with = timed
        return self

    def __exit__(self, *_: object) -> None:
        chain.extend_chain_with = self.original


def plain_store(url: str) -> EventStore:
    """The store as it was before the chain: eventsourcing's own recorder."""
    env = eventsourcing_env(parse_store_url(url))
    env.pop("APPLICATION_RECORDER_TOPIC")
    return EventStore(env=env)


def summary(per_event: list[float]) -> dict[str, float]:
    """Mean microseconds per event over the first and the last tenth of the batches."""
    tenth = max(len(per_event) // 10, 1)
    first, last = per_event[:tenth], per_event[-tenth:]
    return {"first_tenth_us": round(sum(first) / len(first) * 1e6, 1),
            "last_tenth_us": round(sum(last) / len(last) * 1e6, 1),
            "mean_us": round(sum(per_event) / len(per_event) * 1e6, 1)}


def main(args: argparse.Namespace) -> int:
    """Append the history with and without the chain, per backend."""
    work = batches(args.events)
    results: dict[str, Any] = {"events": args.events, "batch": BATCH, "backends": {},
                               "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with tempfile.TemporaryDirectory(prefix="th-append-") as tmp:
        for backend in args.backends:
            for variant in ("plain", "chained"):
                made = None
                if backend == "sqlite":
                    url = f"sqlite:///{Path(tmp) / f'{variant}.sqlite'}"
                else:
                    made = new_schema(args.postgres)
                    if made is None:
                        break
                    url = made[0]
                store = plain_store(url) if variant == "plain" else open_store(url)
                try:
                    with ChainTimer() as timer:
                        started = time.perf_counter()
                        numbers = summary(timed_appends(store, work))
                        total = time.perf_counter() - started
                    numbers["chain_percent"] = round(100 * timer.seconds / total, 1)
                finally:
                    store.close()
                    if made:
                        drop_schema(args.postgres, made[1])
                results["backends"].setdefault(backend, {})[variant] = numbers
    print(f"\nappend of {args.events:,} events in batches of {BATCH} "
          "(microseconds per event)")
    print(f"{'backend':<9} {'variant':<8} {'first 10%':>10} {'last 10%':>9} {'mean':>7} "
          f"{'chain %':>8}")
    for backend, variants in results["backends"].items():
        for variant, n in variants.items():
            print(f"{backend:<9} {variant:<8} {n['first_tenth_us']:>10} "
                  f"{n['last_tenth_us']:>9} {n['mean_us']:>7} {n['chain_percent']:>8}")
    save_results("append", results)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--backends", nargs="*", choices=["sqlite", "postgres"],
                        default=["sqlite", "postgres"])
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(parse_args()))
