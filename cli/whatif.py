"""``tradehooks what-if ACCOUNT``: the account's recorded signals decided again with
other settings (libs.whatif.replay), side by side with what was recorded."""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from cli.export import parse_time
from libs.runtime.config import Settings
from libs.whatif.offline import Costs
from libs.whatif.replay import from_store, replay
from projections.store import open_store

_ROWS = ("orders", "fills", "legs_placed", "legs_filled", "breaker_trips", "refused",
         "rejected", "resting", "realised_pnl", "fees", "equity", "max_drawdown")


def add_parser(sub: Any) -> None:
    """Register ``what-if`` on the CLI."""
    parser = sub.add_parser("what-if", help="replay an account's recorded signals with "
                            "changed settings (sizing, limits, SL/TP, trailing, breaker), "
                            "offline, beside the recording")
    parser.add_argument("account_id")
    parser.add_argument("--strategy", default="", help="only this strategy's signals")
    parser.add_argument("--since", help="ISO time (inclusive; UTC unless it says)")
    parser.add_argument("--until", help="ISO time (exclusive)")
    parser.add_argument("--set", dest="changes", action="append", default=[],
                        metavar="FIELD=VALUE", help="a setting to change: a strategy's "
                        "(sizing_mode=fixed_quantity, sl_pct=2, trailing_stop_pct=1, ...), "
                        "the breaker's (breaker.global_sl_pct=90) or the account's costs "
                        "(account.slippage_bps=10); JSON values kept as JSON; repeatable")
    parser.add_argument("--breaker-interval", type=float, default=None, metavar="SECONDS",
                        help="check the breaker every SECONDS of recorded time (default: "
                        "TRADEHOOKS_BREAKER_INTERVAL_S, 10; 0: only where it tripped)")
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


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Replay and print; exit 2 on a bad setting or time."""
    try:
        changes = _changes(args.changes)
        since, until = parse_time(args.since), parse_time(args.until)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    costs = Costs(Decimal(str(settings.paper_slippage_bps)), Decimal(str(settings.paper_fee_bps)))
    interval = settings.breaker_interval_s if args.breaker_interval is None \
        else args.breaker_interval
    store = open_store(settings.store_url)
    try:
        result = replay(from_store(store), args.account_id, changes,
                        args.strategy, since, until, costs, interval)
    except (ValidationError, ValueError) as exc:
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
    for name in ("recorded", "replayed"):
        for trip in report[name]["trips"]:
            print(f"  {name} breaker trip: {trip['kind']} at {trip['at']} "
                  f"(equity {trip['equity']})")
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
