"""``tradehooks what-if ACCOUNT``: the account's recorded signals decided again with
other settings (libs.whatif.replay), side by side with what was recorded."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from cli.export import parse_time
from contracts.events import AnyEvent
from libs.runtime.config import Settings
from libs.whatif.replay import TYPES, replay
from projections.store import EventStore, open_store

_ROWS = ("orders", "fills", "refused", "resting", "realised_pnl", "fees", "equity",
         "max_drawdown")


def add_parser(sub: Any) -> None:
    """Register ``what-if`` on the CLI."""
    parser = sub.add_parser("what-if", help="replay an account's recorded signals with "
                            "changed strategy settings, offline, beside the recording")
    parser.add_argument("account_id")
    parser.add_argument("--strategy", default="", help="only this strategy's signals")
    parser.add_argument("--since", help="ISO time (inclusive; UTC unless it says)")
    parser.add_argument("--until", help="ISO time (exclusive)")
    parser.add_argument("--set", dest="changes", action="append", default=[],
                        metavar="FIELD=VALUE", help="a strategy setting to change, e.g. "
                        "sizing_mode=fixed_quantity (JSON values kept as JSON); repeatable")
    parser.add_argument("--json", action="store_true", help="the whole report as JSON")
    parser.add_argument("--data-dir", help="data dir of the default SQLite store")


def _changes(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--set {pair!r}: FIELD=VALUE")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def _events(store: EventStore) -> Iterator[AnyEvent]:
    position = 0
    while (page := store.read_page(position, 5000, TYPES)).notifications:
        yield from page.events
        position = page.position


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Replay and print; exit 2 on a bad setting or time."""
    try:
        changes = _changes(args.changes)
        since, until = parse_time(args.since), parse_time(args.until)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    store = open_store(settings.store_url)
    try:
        result = replay(_events(store), args.account_id, changes, args.strategy, since, until)
    except ValidationError as exc:
        print(f"--set: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    report = result.report()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"what-if on {args.account_id}: {report['signals']} recorded signal(s), "
          f"changes {changes or 'none'}")
    print(f"{'':<14} {'recorded':>16} {'replayed':>16}")
    for row in _ROWS:
        print(f"{row:<14} {report['recorded'][row]!s:>16} {report['replayed'][row]!s:>16}")
    if report["legs_not_replayed"]:
        print(f"(the recording has {report['legs_not_replayed']} protective leg fill(s); "
              "legs are not replayed)")
    for change in report["changed"][:20]:
        was = ", ".join(_fill_text(f) for f in change["recorded"]) or "no fill"
        now = ", ".join(_fill_text(f) for f in change["replayed"]) or \
            (f"refused ({change['refused']})" if change["refused"] else "no fill")
        print(f"  {change['signal_id']}: {was} -> {now}")
    if len(report["changed"]) > 20:
        print(f"  ... {len(report['changed']) - 20} more (--json has them all)")
    return 0


def _fill_text(fill: dict[str, str]) -> str:
    return f"{fill['side']} {fill['quantity']} @ {fill['price']}"
