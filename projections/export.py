"""Export the store's history for a spreadsheet or a regulator, streaming.

Four kinds of rows, each read from the event store page by page (constant memory
whatever the store's size) and filtered by tenant, account, strategy and period
(``occurred_at`` in ``[since, until)``):

- ``events``: every pipeline event, whole, with its store position and chain hash;
- ``signals``: each accepted alert (``webhook.received``: its payload, credentials
  removed, and how it was authenticated);
- ``orders``: each order risk asked for (``order.requested``) and each that rested
  at the broker (``order.placed``);
- ``fills``: each fill of a signal's order or a protective leg.

JSON Lines keep every field's JSON type; CSV and Parquet have fixed columns per kind
(nested values as JSON text). The chain hash of an exported event is the link of its row
(:mod:`projections.chain`), so an export can be checked against a verified store
and a signed checkpoint of its head.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import msgspec

from contracts.events import (
    AnyEvent,
    LegFilled,
    OrderPlaced,
    OrderRequested,
    TradeExecuted,
    WebhookReceived,
    event_to_builtins,
    event_type,
)
from projections.chain import chain_of, read_transaction
from projections.store import EventStore

KINDS = ("events", "signals", "orders", "fills")
FORMATS = ("jsonl", "csv")

_TYPES: dict[str, frozenset[str] | None] = {
    "events": None,
    "signals": frozenset({"webhook.received"}),
    "orders": frozenset({"order.requested", "order.placed"}),
    "fills": frozenset({"webhook.trade_executed", "order.leg_filled"}),
}

COLUMNS: dict[str, list[str]] = {
    "events": ["position", "chain_hash", "type", "event_id", "signal_id", "tenant_id",
               "account_id", "strategy_id", "occurred_at", "event"],
    "signals": ["position", "signal_id", "tenant_id", "account_id", "strategy_id",
                "occurred_at", "dialect", "auth_mode", "source_ip", "dry_run", "payload"],
    "orders": ["position", "type", "signal_id", "tenant_id", "account_id", "strategy_id",
               "occurred_at", "client_order_id", "symbol", "side", "quantity",
               "order_type", "limit_price", "stop_price", "reference_price", "status",
               "leg"],
    "fills": ["position", "signal_id", "tenant_id", "account_id", "strategy_id",
              "occurred_at", "leg", "client_order_id", "order_id", "symbol", "side",
              "quantity", "average_price", "fee", "filled_at"],
}


@dataclass(frozen=True)
class Filters:
    """Which events an export keeps (empty: any)."""

    tenant: str = ""
    account: str = ""
    strategy: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def keeps(self, event: AnyEvent) -> bool:
        """True when ``event`` is in the export's scope."""
        if self.tenant and event.tenant_id != self.tenant:
            return False
        if self.account and getattr(event, "account_id", "") != self.account:
            return False
        if self.strategy and getattr(event, "strategy_id", "") != self.strategy:
            return False
        if self.since and event.occurred_at < self.since:
            return False
        return not (self.until and event.occurred_at >= self.until)


def _common(position: int, event: AnyEvent) -> dict[str, Any]:
    return {"position": position, "signal_id": event.signal_id, "tenant_id": event.tenant_id,
            "account_id": getattr(event, "account_id", ""),
            "strategy_id": getattr(event, "strategy_id", ""),
            "occurred_at": event.occurred_at.isoformat()}


def rows_of(kind: str, position: int, event: AnyEvent, chain_hash: bytes) -> list[dict[str, Any]]:
    """The export rows one stored event gives (none when it is not of ``kind``)."""
    if kind == "events":
        body = event_to_builtins(event)
        return [{**_common(position, event), "chain_hash": chain_hash.hex(),
                 "type": event_type(event), "event_id": event.event_id, "event": body}]
    if kind == "signals" and isinstance(event, WebhookReceived):
        return [{**_common(position, event), "dialect": event.dialect,
                 "auth_mode": event.auth_mode, "source_ip": event.source_ip,
                 "dry_run": event.dry_run, "payload": event.payload}]
    if kind == "orders" and isinstance(event, OrderRequested):
        o = event.order
        return [{**_common(position, event), "type": event_type(event),
                 "client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side,
                 "quantity": str(o.quantity), "order_type": o.order_type,
                 "limit_price": _text(o.limit_price), "stop_price": _text(o.stop_price),
                 "reference_price": _text(o.reference_price), "status": "requested",
                 "leg": o.leg}]
    if kind == "orders" and isinstance(event, OrderPlaced):
        b = event.order
        return [{**_common(position, event), "type": event_type(event),
                 "client_order_id": b.client_order_id, "symbol": b.symbol, "side": b.side,
                 "quantity": str(b.quantity), "order_type": b.order_type,
                 "limit_price": _text(b.limit_price), "stop_price": _text(b.stop_price),
                 "reference_price": "", "status": b.status, "leg": b.leg}]
    if kind == "fills" and isinstance(event, TradeExecuted | LegFilled):
        fills = event.all_fills() if isinstance(event, TradeExecuted) else [event.fill]
        leg = event.leg if isinstance(event, LegFilled) else ""
        return [{**_common(position, event), "leg": leg, "client_order_id": f.client_order_id,
                 "order_id": f.order_id, "symbol": f.symbol, "side": f.side,
                 "quantity": str(f.quantity), "average_price": str(f.average_price),
                 "fee": str(f.fee), "filled_at": f.filled_at.isoformat()} for f in fills]
    return []


def _text(value: object) -> str:
    return "" if value is None else str(value)


@dataclass
class Summary:
    """What an export wrote."""

    rows: int = 0
    first_position: int = 0
    last_position: int = 0  # the store position the export read up to


def stream_rows(store: EventStore, kind: str, filters: Filters, upto: int,
                batch: int = 5000) -> Iterator[tuple[int, dict[str, Any]]]:
    """(position, row) of every export row up to store position ``upto``, in order."""
    types = _TYPES[kind]
    sql = chain_of(store.recorder)
    position = 0
    while position < upto:
        page = store.read_page(position, batch, types)
        if not page.notifications:
            return
        hashes: dict[int, bytes] = {}
        if kind == "events" and page.events:
            with read_transaction(store.recorder) as cursor:
                hashes = {link[0]: link[2] for link in
                          sql.links_after(cursor, position, page.notifications)}
        for pos, event in zip(page.positions, page.events, strict=True):
            if pos > upto:
                return
            if filters.keeps(event):
                for row in rows_of(kind, pos, event, hashes.get(pos, b"")):
                    yield pos, row
        position = page.position


def export_lines(store: EventStore, kind: str, fmt: str, filters: Filters, upto: int,
                 summary: Summary | None = None, batch: int = 5000) -> Iterator[str]:
    """The export as lines of text (a CSV header first), produced page by page;
    ``summary`` (when given) counts the rows as they go."""
    summary = summary if summary is not None else Summary(last_position=upto)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS[kind], extrasaction="ignore",
                            lineterminator="\n")
    if fmt == "csv":
        writer.writeheader()
        yield _drain(buffer)
    for pos, row in stream_rows(store, kind, filters, upto, batch):
        if fmt == "csv":
            writer.writerow({k: _cell(v) for k, v in row.items()})
            yield _drain(buffer)
        else:
            yield _json_line.encode(row).decode() + "\n"
        summary.rows += 1
        summary.first_position = summary.first_position or pos


_json_line = msgspec.json.Encoder(decimal_format="string")


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def write_export(store: EventStore, kind: str, fmt: str, filters: Filters, out: IO[str],
                 upto: int, batch: int = 5000) -> Summary:
    """Write the export to ``out`` (text), reading ``batch`` stored rows at a time (the
    memory it holds); returns how many rows and which positions."""
    summary = Summary(last_position=upto)
    for line in export_lines(store, kind, fmt, filters, upto, summary, batch):
        out.write(line)
    return summary


PARQUET_ROWS = 10_000  # per row group: the memory a Parquet export holds at once


def write_parquet(store: EventStore, kind: str, filters: Filters, path: str,
                  upto: int) -> Summary:
    """Write the export as Parquet (pyarrow, the ``parquet`` extra): ``position`` as a
    64-bit integer, every other column as text (nested values as JSON), one row group
    per :data:`PARQUET_ROWS` rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = COLUMNS[kind]
    schema = pa.schema([(name, pa.int64() if name == "position" else pa.string())
                        for name in columns])
    summary = Summary(last_position=upto)
    pending: list[dict[str, Any]] = []
    with pq.ParquetWriter(path, schema) as writer:
        for pos, row in stream_rows(store, kind, filters, upto):
            pending.append(row)
            summary.rows += 1
            summary.first_position = summary.first_position or pos
            if len(pending) >= PARQUET_ROWS:
                writer.write_table(_table(pa, schema, columns, pending))
                pending = []
        if pending or not summary.rows:
            writer.write_table(_table(pa, schema, columns, pending))
    return summary


def _table(pa: Any, schema: Any, columns: list[str], rows: list[dict[str, Any]]) -> Any:
    data = {name: [r["position"] for r in rows] if name == "position" else
            [_text_cell(r.get(name)) for r in rows] for name in columns}
    return pa.Table.from_pydict(data, schema=schema)


def _text_cell(value: object) -> str | None:
    if value is None:
        return None
    return str(_cell(value))  # as the CSV writer writes it


def _cell(value: object) -> object:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), default=str)
    return value
