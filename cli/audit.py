"""The auditor's commands: ``verify``, ``checkpoint``, ``checkpoint-key``, ``account-at``,
``strategy-at``, ``export``, ``what-if``, ``signals``.

Each reads the event store named by the settings (``TRADEHOOKS_DATABASE_URL`` or the
SQLite file under the data dir) directly; none needs a running system.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from cli import export, signals, whatif
from libs.runtime.config import Settings
from projections import checkpoint as cp
from projections.as_of import account_as_of, parse_moment, strategy_as_of
from projections.persistence import parse_store_url
from projections.store import open_store
from projections.timeline_projector import TimelineProjector
from projections.timeline_store import open_timeline
from projections.verify import Expected, VerifyReport, verify_chain

COMMANDS = ("verify", "checkpoint", "checkpoint-key", "account-at", "strategy-at", "export",
            "what-if", "signals")
KEY_ENV = "TRADEHOOKS_CHECKPOINT_KEY"


def add_parsers(sub: Any) -> None:
    """Register the auditor's commands on the CLI."""
    verify = sub.add_parser("verify", help="check the event store's tamper-evidence chain "
                            "(and a signed checkpoint)")
    verify.add_argument("--checkpoint", type=Path, help="a file from 'tradehooks checkpoint' "
                        "(default: the newest the auditor wrote to TRADEHOOKS_CHECKPOINT_DIR)")
    verify.add_argument("--no-checkpoint", action="store_true",
                        help="check the chain alone, not the newest checkpoint")
    verify.add_argument("--public-key", help="the signer's public key (hex, or a .pub file); "
                        "default: TRADEHOOKS_CHECKPOINT_KEY's .pub beside it, else the "
                        "checkpoint's own key")
    verify.add_argument("--data-dir", help="data dir of the default SQLite store")
    check = sub.add_parser("checkpoint", help="verify the chain and print (or write) its "
                           "head signed with your key")
    check.add_argument("--key", type=Path,
                       help=f"private key from 'tradehooks checkpoint-key' (or ${KEY_ENV})")
    check.add_argument("--out", type=Path, help="write the checkpoint here (else stdout)")
    check.add_argument("--data-dir", help="data dir of the default SQLite store")
    at = sub.add_parser("account-at", help="an account as it was at a time or store "
                        "position: cash, equity, positions, open orders, settings (JSON)")
    at.add_argument("account_id")
    at.add_argument("moment", help="ISO 8601 time (UTC unless it says) or a store position")
    at.add_argument("--data-dir", help="data dir of the default SQLite store")
    strategy = sub.add_parser("strategy-at", help="a strategy's settings as they were at a "
                              "time or store position (JSON, secrets masked)")
    strategy.add_argument("strategy_id")
    strategy.add_argument("moment", help="ISO 8601 time (UTC unless it says) or a store "
                          "position")
    strategy.add_argument("--data-dir", help="data dir of the default SQLite store")
    export.add_parser(sub)
    whatif.add_parser(sub)
    signals.add_parser(sub)
    key = sub.add_parser("checkpoint-key", help="make an Ed25519 key for checkpoints; keep "
                         "it away from the store's machine and backups")
    key.add_argument("path", type=Path, help="where the private key goes (PATH.pub: public)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run one of :data:`COMMANDS`; exit 0 when everything checks out."""
    if args.command == "checkpoint-key":
        if args.path.exists():
            print(f"{args.path} exists; not overwritten", file=sys.stderr)
            return 2
        public = cp.new_key(args.path)
        print(f"private key: {args.path} (mode 600)\npublic key:  {public} ({args.path}.pub)")
        return 0
    if args.command == "checkpoint":
        return _checkpoint(settings, args)
    if args.command == "export":
        return export.run(settings, args)
    if args.command == "what-if":
        return whatif.run(settings, args)
    if args.command == "signals":
        return signals.run(settings, args)
    if args.command in ("account-at", "strategy-at"):
        return _as_of(settings, args)
    return _verify(settings, args)


def _verify(settings: Settings, args: argparse.Namespace) -> int:
    expected = None
    public = _public_key(args.public_key or _own_public_key(settings))
    where = parse_store_url(settings.store_url).describe()
    checkpoint: cp.Checkpoint | None = None
    if args.checkpoint:
        try:
            checkpoint = cp.decode(args.checkpoint.read_bytes())
        except (OSError, msgspec.DecodeError) as exc:
            print(f"cannot read checkpoint {args.checkpoint}: {exc}", file=sys.stderr)
            return 2
    elif not args.no_checkpoint and settings.checkpoints.is_dir():
        checkpoint = cp.newest(settings.checkpoints, where)
        if checkpoint is not None:
            print(f"checkpoint: the newest in {settings.checkpoints}")
    if checkpoint is not None:
        problem = cp.check_signature(checkpoint, public)
        if problem:
            print(f"checkpoint {args.checkpoint or settings.checkpoints}: {problem}")
            return 1
        signer = "the given key" if public else "its own key (pass --public-key to know who)"
        print(f"checkpoint: position {checkpoint.position} of {checkpoint.created_at}, "
              f"signature holds for {signer}")
        expected = Expected(checkpoint.position, bytes.fromhex(checkpoint.hash))
    store = open_store(settings.store_url, upgrade=False)
    try:
        report = verify_chain(store.recorder, expected)
    finally:
        store.close()
    print(_describe(report, where))
    return 0 if report.ok else 1


def _describe(report: VerifyReport, where: str) -> str:
    lines = [f"store: {where}",
             f"verified: {report.events} stored row(s), chain head at position "
             f"{report.head_position} hash {report.head_hash.hex()}"]
    if report.first_break:
        lines.append(f"BROKEN at position {report.first_break.position} "
                     f"({report.first_break.kind}): {report.first_break.detail}")
    else:
        cover = (f"; the signed checkpoint at position {report.checkpoint_position} matches"
                 if report.checkpoint_position is not None else "")
        lines.append(f"OK: the chain is intact{cover}")
    return "\n".join(lines)


def _own_public_key(settings: Settings) -> str | None:
    """The public half of the configured checkpoint key (``KEY.pub``), if it is there."""
    key = settings.checkpoint_key or os.environ.get(KEY_ENV, "")
    pub = Path(f"{key}.pub") if key else None
    return str(pub) if pub is not None and pub.is_file() else None


def _public_key(value: str | None) -> str | None:
    if value and Path(value).is_file():
        return Path(value).read_text().strip()
    return value


def _checkpoint(settings: Settings, args: argparse.Namespace) -> int:
    key_path = args.key or (Path(os.environ[KEY_ENV]) if os.environ.get(KEY_ENV) else None)
    if key_path is None:
        print(f"no key: pass --key or set {KEY_ENV} (make one with 'tradehooks "
              "checkpoint-key PATH')", file=sys.stderr)
        return 2
    key = cp.load_key(key_path)
    store = open_store(settings.store_url)
    try:
        report = verify_chain(store.recorder)
    finally:
        store.close()
    where = parse_store_url(settings.store_url).describe()
    if not report.ok:
        print(_describe(report, where), file=sys.stderr)
        print("not signing a broken chain", file=sys.stderr)
        return 1
    signed = cp.sign(key, store=where, position=report.head_position,
                     head_hash=report.head_hash, events=report.events,
                     now=datetime.now(UTC))
    if args.out:
        args.out.write_bytes(cp.encode(signed))
        print(f"checkpoint of position {signed.position} ({signed.events} events) "
              f"written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(cp.encode(signed).decode())
    return 0


def _as_of(settings: Settings, args: argparse.Namespace) -> int:
    try:
        moment = parse_moment(args.moment)
    except ValueError as exc:
        print(f"{args.moment!r}: {exc}", file=sys.stderr)
        return 2
    location = parse_store_url(settings.store_url)
    store = open_store(settings.store_url)
    timeline = open_timeline(location)
    try:
        # Index what the auditor has not yet (the same rows it would write).
        TimelineProjector(store, timeline).catch_up()
        if args.command == "account-at":
            what = f"account {args.account_id}"
            body = account_as_of(store, timeline, args.account_id, moment, args.moment)
        else:
            what = f"strategy {args.strategy_id}"
            body = strategy_as_of(store, timeline, args.strategy_id, moment, args.moment)
    finally:
        timeline.close()
        store.close()
    if body is None:
        print(f"no {what} as of {args.moment}", file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2))
    return 0
