"""Replay bench: events per second of ``tradehooks replay`` rebuilding the projections
from a store of a million events, on SQLite and on PostgreSQL (target: 50,000/s).

A fresh store per backend is filled with the same realistic history in bulk
(``bench/replay_fill.py``; setup, not measured), then the real command runs as a
subprocess against it, twice: the first run fills the empty read model, the second
must find it identical. Prints a table and saves JSON under ``bench/results/``.

    make bench                                   # load bench, then this one
    make bench-replay                            # this one only
    .venv/bin/python -m bench.replay --events 100000 --backends sqlite
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench.replay_fill import stored_batches, write_rows
from bench.results_file import save_results
from cli.progress import ProgressBar
from projections.store import EventStore, open_store

ROOT = Path(__file__).resolve().parent.parent
TARGET = 50_000
DEFAULT_POSTGRES = os.environ.get("TRADEHOOKS_BENCH_POSTGRES",
                                  "postgresql://postgres@127.0.0.1:5432/test")
_REPORT = re.compile(r"replayed (\d+) events .* in ([\d.]+) s")


def fill(stores: dict[str, EventStore], events: int, accounts: int) -> dict[str, Any]:
    """Write the history into every store; how long making and writing the rows took."""
    first = next(iter(stores.values()))
    bar = ProgressBar(events, "fill", unit="events") if sys.stderr.isatty() else None
    writing = dict.fromkeys(stores, 0.0)
    started = time.perf_counter()
    for written, rows in stored_batches(first.mapper, events, accounts):
        for name, store in stores.items():
            t = time.perf_counter()
            write_rows(store, rows)
            writing[name] += time.perf_counter() - t
        if bar:
            bar.update(written, written)
    if bar:
        bar.close()
    total = time.perf_counter() - started
    return {"seconds": round(total, 1),
            "making_rows_seconds": round(total - sum(writing.values()), 1),
            "writing_seconds": {name: round(s, 1) for name, s in writing.items()},
            "stored_rows": first.max_position()}


def run_replay(url: str) -> dict[str, Any]:
    """One ``tradehooks replay`` against ``url``: its own timing and the wall time."""
    env = {**os.environ, "TRADEHOOKS_DATABASE_URL": url, "TRADEHOOKS_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "cli.main", "replay"]
    if sys.stderr.isatty():
        command.append("--progress")
    started, cpu_before = time.perf_counter(), _children_cpu()
    result = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            check=True)
    wall = time.perf_counter() - started
    # CPU seconds of the whole command (imports included): on a shared machine the
    # wall-clock rate also measures the neighbours.
    cpu = _children_cpu() - cpu_before
    match = _REPORT.search(result.stdout)
    if match is None:
        raise RuntimeError(f"unexpected replay output: {result.stdout!r}")
    events, seconds = int(match.group(1)), float(match.group(2))
    return {"events": events, "seconds": seconds, "wall_seconds": round(wall, 2),
            "events_per_s": round(events / seconds) if seconds else 0,
            "cpu_seconds": round(cpu, 2),
            "identical": "identical to the live projection: yes" in result.stdout}


def _children_cpu() -> float:
    """User plus system CPU seconds of finished child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def new_schema(base_url: str) -> tuple[str, str] | None:
    """A fresh schema for the bench store (URL, schema), or None without PostgreSQL."""
    schema = f"th_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(base_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL at {base_url} unavailable, skipped: {exc}", file=sys.stderr)
        return None
    return f"{base_url}?schema={schema}", schema


def drop_schema(base_url: str, schema: str) -> None:
    """Remove the bench store from PostgreSQL."""
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[arg-type]


def main(args: argparse.Namespace) -> int:
    """Fill, replay, report."""
    results: dict[str, Any] = {"events": args.events, "accounts": args.accounts,
                               "target_events_per_s": TARGET, "cpus": os.cpu_count(),
                               "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "backends": {}}
    with tempfile.TemporaryDirectory(prefix="th-replay-") as tmp:
        urls: dict[str, str] = {}
        schema = None
        if "sqlite" in args.backends:
            urls["sqlite"] = f"sqlite:///{Path(tmp) / 'events.sqlite'}"
        if "postgres" in args.backends and (made := new_schema(args.postgres)):
            urls["postgres"], schema = made
        stores = {name: open_store(url) for name, url in urls.items()}
        try:
            results["fill"] = fill(stores, args.events, args.accounts)
            for store in stores.values():
                store.close()
            for name, url in urls.items():
                results["backends"][name] = [run_replay(url) for _ in range(args.runs)]
        finally:
            for store in stores.values():
                store.close()
            if schema:
                drop_schema(args.postgres, schema)
    print_table(results)
    save_results("replay", results)
    return 0


def print_table(results: dict[str, Any]) -> None:
    """Human-readable summary."""
    f = results["fill"]
    writes = ", ".join(f"{k} {v} s" for k, v in f["writing_seconds"].items())
    print(f"\nreplay of {results['events']:,} events ({f['stored_rows']:,} stored rows, "
          f"{results['accounts']} accounts); filled in {f['seconds']} s "
          f"(making rows {f['making_rows_seconds']} s; writing: {writes})")
    print(f"{'backend':<9} {'run':>3} {'seconds':>8} {'events/s':>9} {'identical':>10} "
          f"{'target':>8} {'cpu s':>7}")
    for name, runs in results["backends"].items():
        for i, r in enumerate(runs, 1):
            ok = "ok" if r["events_per_s"] >= TARGET else "MISSED"
            print(f"{name:<9} {i:>3} {r['seconds']:>8.2f} {r['events_per_s']:>9,} "
                  f"{'yes' if r['identical'] else 'no':>10} {ok:>8} {r['cpu_seconds']:>7.1f}")
    print("(run 1 rebuilds into an empty read model, so it cannot be identical)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="pipeline events in the store (default 1,000,000)")
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--backends", nargs="*", choices=["sqlite", "postgres"],
                        default=["sqlite", "postgres"])
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES,
                        help="PostgreSQL database for a temporary schema")
    parser.add_argument("--runs", type=int, default=2, help="replays per backend")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(parse_args()))
