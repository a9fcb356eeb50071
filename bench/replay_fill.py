"""Fill a fresh event store with a realistic history, fast, for the replay bench.

The history is what the pipeline writes: for each of a few hundred paper accounts a
``registry.account_opened`` (and a strategy registration), then signals that each
run ``webhook.received`` → ``webhook.validated`` → ``order.requested`` →
``webhook.trade_executed``, or stop with ``webhook.failed`` at validation or risk.
Signals arrive in overlapping waves, as the services interleave them.

Speed comes from batching: events go through ``Trail.record`` and the store's
mapper exactly as :meth:`EventStore.append` does, so the stored rows are the ones
the pipeline would store, but they are made once for every backend and written
tens of thousands at a time (a test compares them with ``append``'s rows).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from contracts.events import (
    AccountOpened,
    AnyEvent,
    OrderRequested,
    StrategyRegistered,
    TradeExecuted,
    WebhookFailed,
    WebhookReceived,
    WebhookValidated,
    event_to_builtins,
    event_type,
)
from contracts.orders import Fill, OrderRequest
from contracts.signals import Signal
from projections.chain import upgrade_chain
from projections.store import EventStore
from projections.trails import Trail

SYMBOLS = {"AAPL": "190", "MSFT": "420", "NVDA": "880", "TSLA": "175", "SPY": "520",
           "QQQ": "440", "AMZN": "180", "META": "490", "BTCUSD": "64000", "ETHUSD": "3100"}
START = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
CENT = Decimal("0.01")
_NS = uuid5(NAMESPACE_URL, "https://tradehooks.dev/bench")


def _id(*parts: object) -> str:
    """A stable id, like ``derived_event_id`` (uuid5 of the parts)."""
    return str(uuid5(_NS, ":".join(map(str, parts))))


class History:
    """Deterministic generator of pipeline events for ``accounts`` paper accounts."""

    def __init__(self, accounts: int = 300, seed: int = 6) -> None:
        self.rng = random.Random(seed)
        self.accounts = [f"acc-{i:04d}" for i in range(accounts)]
        self.tenants = {acc: f"tenant-{i % 12:02d}" for i, acc in enumerate(self.accounts)}
        self.prices = {sym: Decimal(p) for sym, p in SYMBOLS.items()}
        self.clock = START

    def _tick(self) -> datetime:
        self.clock += timedelta(microseconds=self.rng.randint(500, 4000))
        return self.clock

    def registry(self) -> Iterator[AnyEvent]:
        """One account opening and one strategy registration per account."""
        for acc in self.accounts:
            tenant = self.tenants[acc]
            corr = f"account:{acc}"
            record = {"id": acc, "tenant_id": tenant, "name": f"Bench {acc}", "broker": "paper",
                      "currency": "USD", "starting_cash": "250000", "active": True}
            yield AccountOpened(event_id=_id(corr, "opened"), signal_id=corr, tenant_id=tenant,
                                occurred_at=self._tick(), account_id=acc, name=f"Bench {acc}",
                                broker="paper", currency="USD", starting_cash=Decimal(250_000),
                                record=record)
            strat = f"strat-{acc}"
            yield StrategyRegistered(
                event_id=_id(f"strategy:{strat}", "registered"), signal_id=f"strategy:{strat}",
                tenant_id=tenant, occurred_at=self._tick(), strategy_id=strat, account_id=acc,
                name=f"Breakout {acc}", slug=f"breakout-{acc}", secret_fingerprint=_id(strat)[:12],
                record={"id": strat, "account_id": acc, "secret": "sealed:v1:bench"})

    def signal(self, n: int) -> list[AnyEvent]:
        """The lifecycle of signal number ``n`` (2 to 4 events)."""
        rng = self.rng
        acc = rng.choice(self.accounts)
        tenant, strat = self.tenants[acc], f"strat-{acc}"
        sig = _id("signal", n)
        sym = rng.choice(list(SYMBOLS))
        price = (self.prices[sym] * Decimal(1 + rng.uniform(-0.002, 0.002))).quantize(CENT)
        self.prices[sym] = price
        side = rng.choice(("buy", "sell"))
        qty = Decimal(rng.randint(1, 40))
        base: dict[str, Any] = {"signal_id": sig, "tenant_id": tenant, "strategy_id": strat,
                                "account_id": acc}
        received = WebhookReceived(
            event_id=_id(sig, "received"), occurred_at=self._tick(), dialect="exchange",
            payload={"alertId": f"alert-{n}", "action": side, "symbol": sym,
                     "price": float(price), "quantity": int(qty), "orderType": "market",
                     "timestamp": self.clock.isoformat()},
            content_type="application/json", auth_mode="hmac", source_ip="52.89.214.238",
            **base)
        if rng.random() < 0.03:
            return [received, self._failed(sig, base, "validate", "unknown_symbol")]
        intent = "buy" if side == "buy" else "sell"
        signal = Signal(dialect="exchange", symbol=sym, asset_class="equity", intent=intent,
                        quantity=qty, price=price, alert_id=f"alert-{n}")
        validated = WebhookValidated(event_id=_id(sig, "validated"), occurred_at=self._tick(),
                                     signal=signal, **base)
        if rng.random() < 0.05:
            return [received, validated, self._failed(sig, base, "risk", "max_order_notional")]
        cid = f"breakout-{acc}-{int(self.clock.timestamp())}-{sig[:8]}"
        order = OrderRequest(client_order_id=cid, symbol=sym, side=side, quantity=qty,
                             intent=intent, reference_price=price)
        requested = OrderRequested(event_id=_id(sig, "order"), occurred_at=self._tick(),
                                   order=order, **base)
        fee = (qty * price * Decimal("0.0005")).quantize(CENT)
        fill = Fill(order_id=_id(cid, "paper"), client_order_id=cid, symbol=sym, side=side,
                    quantity=qty, average_price=price, fee=fee, filled_at=self._tick())
        executed = TradeExecuted(event_id=_id(sig, "executed"), occurred_at=self.clock,
                                 broker="paper", fill=fill, request=order, **base)
        return [received, validated, requested, executed]

    def _failed(self, sig: str, base: dict[str, Any], stage: str, code: str) -> WebhookFailed:
        return WebhookFailed(event_id=_id(sig, f"failed:{stage}"), occurred_at=self._tick(),
                             stage=stage, code=code,  # type: ignore[arg-type]
                             reason=f"{code} (bench)", details={"rule": code}, **base)


def waves(history: History, events: int, wave: int = 64) -> Iterator[list[AnyEvent]]:
    """Batches in stream order: ``wave`` signals in flight, advanced stage by stage.

    Stops after exactly ``events`` pipeline events (the last signals may be
    unfinished, as in a live store).
    """
    left = events
    registry = list(history.registry())[:left]
    left -= len(registry)
    yield registry
    n = 0
    while left > 0:
        lifecycles = [history.signal(n + i) for i in range(wave)]
        n += wave
        for stage in range(4):
            batch = [lc[stage] for lc in lifecycles if len(lc) > stage][:left]
            left -= len(batch)
            if batch:
                yield batch


def stored_batches(mapper: Mapper[Any], events: int, accounts: int = 300, wave: int = 64,
                   size: int = 20_000) -> Iterator[tuple[int, list[StoredEvent]]]:
    """The rows :meth:`EventStore.append` would store for the history, ``size`` at a
    time, each with the number of pipeline events written so far.

    Each event is recorded on its trail with ``Trail.record`` and mapped with the
    store's mapper, as ``append`` and ``save`` do; trails stay in memory (the store
    is empty and this is its only writer), so none is ever loaded back.
    """
    trails: dict[str, Trail] = {}
    pending: list[StoredEvent] = []
    written = 0
    for batch in waves(History(accounts), events, wave):
        for ev in batch:
            trail = trails.get(ev.signal_id)
            if trail is None:
                trail = trails[ev.signal_id] = Trail(ev.signal_id)
            trail.record(event_id=ev.event_id, event_type=event_type(ev),
                         body=event_to_builtins(ev))
            pending.extend(mapper.to_stored_event(d) for d in trail.collect_events())
            if type(ev) in (TradeExecuted, WebhookFailed):
                del trails[ev.signal_id]  # a finished signal gets no more events
        written += len(batch)
        if len(pending) >= size:
            yield written, pending
            pending = []
    yield written, pending


def write_rows(store: EventStore, rows: list[StoredEvent]) -> None:
    """Insert rows into the store's table in one transaction, in order.

    SQLite takes them through the recorder itself. PostgreSQL gets one binary COPY
    into the recorder's table: the same four columns its insert writes, with the
    notification id from the same sequence (the recorder's own insert sends a
    text-format array that is slow to parse server side, and hangs psycopg's
    pipeline at this size).
    """
    recorder = store.recorder
    if not isinstance(recorder, PostgresApplicationRecorder):
        recorder.insert_events(rows)
        return
    statement = SQL("COPY {schema}.{table} (originator_id, originator_version, topic, state) "
                    "FROM STDIN (FORMAT BINARY)").format(
        schema=Identifier(recorder.datastore.schema),
        table=Identifier(recorder.events_table_name))
    with (recorder.datastore.get_connection() as conn, conn.cursor() as cursor,
          cursor.copy(statement) as copy):
        copy.set_types(["uuid", "int8", "text", "bytea"])
        for row in rows:
            copy.write_row((row.originator_id, row.originator_version, row.topic, row.state))
    # COPY bypasses the recorder, so the rows are linked into the tamper-evidence
    # chain afterwards, as the recorder would have done.
    upgrade_chain(recorder, batch=max(len(rows), 1))


def fill_stores(stores: list[EventStore], events: int, accounts: int = 300, wave: int = 64,
                on_progress: Callable[[int], None] | None = None) -> int:
    """Write the same ``events`` pipeline events into every (empty) store.

    The rows are made once with the first store's mapper (every store here uses
    eventsourcing's default JSON transcoder) and written to each store.
    """
    mapper = stores[0].mapper
    written = 0
    for written, rows in stored_batches(mapper, events, accounts, wave):
        for store in stores:
            write_rows(store, rows)
        if on_progress:
            on_progress(written)
    return written
