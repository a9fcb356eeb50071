"""What-if bench: 100,000 recorded signals of one account decided again with changed
settings (target: under a minute), from a store, on SQLite.

Setup (timed apart): a paper account whose strategy trades a fixed quantity in and
out of four symbols, recorded as validated signals and fills, written in bulk.
Measured: ``tradehooks what-if``'s work — reading the store and replaying — with
unchanged settings (which must give back the recording), with a changed size, and with
SL/TP legs and a trailing stop attached to every entry.

    .venv/bin/python -m bench.whatif --signals 20000
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent

from bench.replay_fill import write_rows
from bench.results_file import save_results
from contracts.events import (
    AccountOpened,
    AnyEvent,
    StrategyRegistered,
    TradeExecuted,
    WebhookValidated,
    event_to_builtins,
    event_type,
)
from contracts.orders import Fill
from contracts.signals import Signal
from libs.registry.models import Strategy
from libs.whatif.replay import from_store, replay
from projections.store import EventStore, open_store
from projections.trails import Trail
from services.risk.rules import client_order_id

TARGET_S = 60.0
# Unchanged (must give back the recording), a changed size, and legs with a trailing
# stop on every entry (the replay's heaviest path: legs rest, alert prices move them).
CASES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("unchanged", {}),
    ("fixed_quantity=3", {"fixed_quantity": "3"}),
    ("legs+trailing", {"attach_sl_tp": True, "sl_pct": "2", "tp_pct": "4",
                       "trailing_stop_pct": "1"}),
)
START = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
STRATEGY = Strategy(id="strat-b", tenant_id="bench", account_id="acc-b", name="Bench",
                    slug="bench", secret="sealed:v1:bench",  # noqa: S106 - a placeholder
                    sizing_mode="fixed_quantity",
                    fixed_quantity=Decimal(1), max_order_notional=None)
SYMBOLS = ("AAPL", "MSFT", "NVDA", "SPY")


def history(signals: int, seed: int = 16) -> Iterator[AnyEvent]:
    """The recording: entries of 1 share, and an exit of the symbol every fifth."""
    rng = random.Random(seed)
    base: dict[str, Any] = {"tenant_id": "bench", "strategy_id": STRATEGY.id,
                            "account_id": STRATEGY.account_id}
    yield AccountOpened(event_id="opened", signal_id="", tenant_id="bench", occurred_at=START,
                        account_id=STRATEGY.account_id, name="Bench", broker="paper",
                        currency="USD", starting_cash=Decimal(10_000_000))
    yield StrategyRegistered(event_id="registered", signal_id="", tenant_id="bench",
                             occurred_at=START, strategy_id=STRATEGY.id,
                             account_id=STRATEGY.account_id, name="Bench", slug="bench",
                             secret_fingerprint="0" * 12,
                             record=STRATEGY.model_dump(mode="json"))
    held: dict[str, Decimal] = {}
    for n in range(signals):
        at = START + timedelta(seconds=n + 1)
        symbol = rng.choice(SYMBOLS)
        price = Decimal(1000 + rng.randint(-500, 500)) / 10
        exit_ = n % 5 == 4 and held.get(symbol)
        sig = f"s-{n}"
        signal = Signal(dialect="exchange", symbol=symbol, asset_class="equity",
                        intent="exit_long" if exit_ else "enter_long", price=price)
        yield WebhookValidated(event_id=f"v-{n}", signal_id=sig, occurred_at=at,
                               signal=signal, **base)
        quantity = held.pop(symbol) if exit_ else Decimal(1)
        if not exit_:
            held[symbol] = held.get(symbol, Decimal(0)) + 1
        fill = Fill(order_id=f"o-{n}", client_order_id=client_order_id(STRATEGY, sig, at),
                    symbol=symbol, side="sell" if exit_ else "buy", quantity=quantity,
                    average_price=price, fee=Decimal("0.01"), filled_at=at)
        yield TradeExecuted(event_id=f"x-{n}", signal_id=sig, occurred_at=at, broker="paper",
                            fill=fill, **base)


def fill_store(store: EventStore, signals: int, size: int = 20_000) -> None:
    """Write the recording as ``append`` would (one trail per signal)."""
    trails: dict[str, Trail] = {}
    pending: list[StoredEvent] = []
    for ev in history(signals):
        key = ev.signal_id or ev.event_id
        trail = trails.pop(key, None) or Trail(key)
        trail.record(event_id=ev.event_id, event_type=event_type(ev),
                     body=event_to_builtins(ev))
        if isinstance(ev, WebhookValidated):
            trails[key] = trail
        pending.extend(store.mapper.to_stored_event(d) for d in trail.collect_events())
        if len(pending) >= size:
            write_rows(store, pending)
            pending = []
    if pending:
        write_rows(store, pending)


def main(args: argparse.Namespace) -> int:
    """Fill, then replay unchanged and changed."""
    results: dict[str, Any] = {"signals": args.signals, "target_s": TARGET_S,
                               "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with tempfile.TemporaryDirectory(prefix="th-whatif-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'events.sqlite'}")
        try:
            started = time.perf_counter()
            fill_store(store, args.signals)
            results["fill_seconds"] = round(time.perf_counter() - started, 1)
            for name, changes in CASES:
                started = time.perf_counter()
                report = replay(from_store(store), STRATEGY.account_id, changes).report()
                seconds = time.perf_counter() - started
                results[name] = {"seconds": round(seconds, 1), "changed": len(report["changed"]),
                                 "replayed_fills": report["replayed"]["fills"]}
        finally:
            store.close()
    print(f"\nwhat-if over {args.signals:,} recorded signals (target {TARGET_S:.0f} s; "
          f"fill {results['fill_seconds']} s)")
    for name, _ in CASES:
        r = results[name]
        ok = "ok" if r["seconds"] < TARGET_S else "MISSED"
        print(f"{name:<18} {r['seconds']:>6} s  {r['replayed_fills']:>7} fills  "
              f"{r['changed']:>7} changed  {ok}")
    save_results("whatif", results)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=100_000)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(parse_args()))
