"""``tradehooks signals``: search the signal history from the command line.

Reads the signal history read model beside the store (the rows of ``GET
/api/v1/signals``), newest first, with the same filters; ``--all`` pages to the end.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

import msgspec

from cli.export import parse_time
from libs.runtime.config import Settings
from projections.persistence import parse_store_url
from projections.signal_store import SignalQuery, open_signal_store
from projections.signals import SignalRow, to_us

_PAGE = 500
_encoder = msgspec.json.Encoder(decimal_format="string")


def add_parser(sub: Any) -> None:
    """Register ``signals`` on the CLI."""
    parser = sub.add_parser("signals", help="search the signal history (newest first)")
    for name in ("tenant", "strategy", "account", "status", "symbol"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--since", help="received at or after (ISO; UTC unless it says)")
    parser.add_argument("--until", help="received before (ISO)")
    parser.add_argument("--q", help="a signal id, order id, client order id or failure code")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--all", action="store_true", help="every match, not --limit")
    parser.add_argument("--json", action="store_true", help="one JSON row per line")
    parser.add_argument("--data-dir", help="data dir of the default SQLite store")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Print the matching rows; exit 2 on a bad time."""
    try:
        since, until = parse_time(args.since), parse_time(args.until)
    except ValueError as exc:
        print(f"bad time: {exc}", file=sys.stderr)
        return 2
    query = SignalQuery(tenant_id=args.tenant, strategy_id=args.strategy,
                        account_id=args.account, status=args.status, symbol=args.symbol,
                        since_us=to_us(since) if since else None,
                        until_us=to_us(until) if until else None, q=args.q,
                        limit=_PAGE if args.all else max(1, min(args.limit, _PAGE)))
    store = open_signal_store(parse_store_url(settings.store_url))
    shown = 0
    try:
        if not args.json:
            print(f"{'received_at':<27} {'signal_id':<38} {'strategy':<16} {'symbol':<9} "
                  f"{'side':<5} {'status':<9} {'stage':<9} reason")
        while rows := store.page(query):
            for row in rows:
                print(_encoder.encode(row).decode() if args.json else _line(row))
            shown += len(rows)
            if not args.all or len(rows) < query.limit:
                break
            query = replace(query, before=(rows[-1].received_us, rows[-1].seq))
    finally:
        store.close()
    print(f"{shown} signal(s)", file=sys.stderr)
    return 0


def _line(row: SignalRow) -> str:
    reason = f"{row.code}: {row.reason}" if row.code else row.reason
    return (f"{row.received_at.isoformat():<27} {row.signal_id:<38} {row.strategy_id:<16} "
            f"{row.symbol:<9} {row.side:<5} {row.status:<9} {row.stage:<9} {reason}")
