"""``tradehooks export KIND``: events, signals, orders or fills as JSON Lines, CSV or
Parquet.

Reads the event store directly, streaming. The chain is verified first and the
export stops at its head; with ``--out DIR`` the rows go to ``DIR/<kind>.<format>``
beside ``DIR/manifest.json`` (filters, row count, the file's SHA-256, the chain head
it stands on) and, with a checkpoint key, ``DIR/checkpoint.json`` signing that head.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from libs.runtime.config import Settings
from projections import checkpoint as cp
from projections.export import FORMATS, KINDS, Filters, write_export, write_parquet
from projections.persistence import parse_store_url
from projections.store import open_store
from projections.verify import verify_chain

KEY_ENV = "TRADEHOOKS_CHECKPOINT_KEY"


def add_parser(sub: Any) -> None:
    """Register ``export`` on the CLI."""
    export = sub.add_parser("export", help="export events, signals, orders or fills "
                            "(JSON Lines or CSV) with the chain head they stand on")
    export.add_argument("kind", choices=KINDS)
    export.add_argument("--format", choices=[*FORMATS, "parquet"], default="jsonl",
                        help="parquet needs --out and pyarrow (pip install "
                        "'tradehooks[parquet]')")
    export.add_argument("--tenant", default="")
    export.add_argument("--account", default="")
    export.add_argument("--strategy", default="")
    export.add_argument("--since", help="ISO time (inclusive; UTC unless it says)")
    export.add_argument("--until", help="ISO time (exclusive)")
    export.add_argument("--out", type=Path, help="a directory (else rows go to stdout)")
    export.add_argument("--key", type=Path,
                        help=f"sign the chain head with this key (or ${KEY_ENV})")
    export.add_argument("--data-dir", help="data dir of the default SQLite store")


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time (naive = UTC), or None."""
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Verify, then export; exit 1 when the chain is broken, 2 on bad arguments."""
    try:
        filters = Filters(tenant=args.tenant, account=args.account, strategy=args.strategy,
                          since=parse_time(args.since), until=parse_time(args.until))
    except ValueError as exc:
        print(f"bad time: {exc}", file=sys.stderr)
        return 2
    if args.format == "parquet" and args.out is None:
        print("--format parquet writes a file: give --out DIR", file=sys.stderr)
        return 2
    key_path = args.key or (Path(os.environ[KEY_ENV]) if os.environ.get(KEY_ENV) else None)
    key = cp.load_key(key_path) if key_path else None
    where = parse_store_url(settings.store_url).describe()
    store = open_store(settings.store_url)
    try:
        report = verify_chain(store.recorder)
        if not report.ok:
            assert report.first_break is not None
            print(f"the chain is broken at position {report.first_break.position} "
                  f"({report.first_break.kind}); run tradehooks verify", file=sys.stderr)
            return 1
        if args.out is None:
            summary = write_export(store, args.kind, args.format, filters, sys.stdout,
                                   report.head_position)
            print(f"{summary.rows} row(s) up to position {report.head_position}, chain head "
                  f"{report.head_hash.hex()}", file=sys.stderr)
            return 0
        args.out.mkdir(parents=True, exist_ok=True)
        data = args.out / f"{args.kind}.{args.format}"
        if args.format == "parquet":
            summary = write_parquet(store, args.kind, filters, str(data),
                                    report.head_position)
        else:
            with data.open("w", newline="") as out:
                summary = write_export(store, args.kind, args.format, filters, out,
                                       report.head_position)
    finally:
        store.close()
    manifest: dict[str, Any] = {
        "kind": args.kind, "format": args.format, "store": where,
        "filters": {"tenant": args.tenant, "account": args.account,
                    "strategy": args.strategy, "since": args.since, "until": args.until},
        "rows": summary.rows, "file": data.name, "sha256": _sha256(data),
        "chain": {"position": report.head_position, "hash": report.head_hash.hex(),
                  "events": report.events},
        "exported_at": datetime.now(UTC).isoformat(),
    }
    if key is not None:
        signed = cp.sign(key, store=where, position=report.head_position,
                         head_hash=report.head_hash, events=report.events,
                         now=datetime.now(UTC))
        (args.out / "checkpoint.json").write_bytes(cp.encode(signed))
        manifest["checkpoint"] = "checkpoint.json"
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{summary.rows} row(s) to {data}; chain head at position "
          f"{report.head_position}", file=sys.stderr)
    return 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
