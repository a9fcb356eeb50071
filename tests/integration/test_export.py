"""Exports of events, signals, orders and fills on SQLite and PostgreSQL: exact rows,
filters, streaming page by page, and the chain head (signed) they stand on."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import tracemalloc
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from factories import (
    NOW,
    make_fill,
    make_order_requested,
    make_received,
    make_trade_executed,
)
from harness import BACKENDS

from cli.main import main
from contracts.events import AnyEvent
from projections import checkpoint as cp
from projections.chain import chain_of, read_transaction
from projections.export import COLUMNS, Filters, stream_rows, write_export
from projections.persistence import parse_store_url
from projections.store import EventStore

pytestmark = pytest.mark.parametrize("store_url", BACKENDS, indirect=True)


def lifecycles() -> list[AnyEvent]:
    """Three signals: acc-1/strat-1 at minute 0 and 10, acc-2/strat-2 at minute 5."""
    out: list[AnyEvent] = []
    for n, (account, strategy, minute) in enumerate(
            [("acc-1", "strat-1", 0), ("acc-2", "strat-2", 5), ("acc-1", "strat-1", 10)]):
        sig = f"sig-{n}"
        when = {"occurred_at": NOW + timedelta(minutes=minute), "signal_id": sig,
                "account_id": account, "strategy_id": strategy}
        out += [
            make_received(event_id=f"{sig}-r", **when),
            make_order_requested(event_id=f"{sig}-o", **when),
            make_trade_executed(event_id=f"{sig}-x", **when, fill=make_fill(
                client_order_id=f"c-{n}", quantity=D(n + 1), average_price=D("100.25"),
                fee=D("0.05"))),
        ]
    return out


def export(store: EventStore, kind: str, fmt: str = "jsonl", **filters: Any) -> str:
    out = io.StringIO()
    write_export(store, kind, fmt, Filters(**filters), out, store.max_position())
    return out.getvalue()


def test_events_are_whole_in_store_order_with_their_chain_hashes(store: EventStore) -> None:
    store.append(lifecycles())
    rows = [json.loads(line) for line in export(store, "events").splitlines()]
    with read_transaction(store.recorder) as cursor:
        links = {p: h.hex() for p, _, h in chain_of(store.recorder).links_after(cursor, 0, 99)}

    assert [r["event_id"] for r in rows] == [e.event_id for e in lifecycles()]
    assert all(links[r["position"]] == r["chain_hash"] for r in rows)
    assert rows[2]["event"]["fill"]["average_price"] == "100.25"
    assert [r["position"] for r in rows] == sorted(r["position"] for r in rows)


def test_filters_by_account_strategy_tenant_and_period(store: EventStore) -> None:
    store.append(lifecycles())

    def signal_ids(**filters: Any) -> list[str]:
        return [json.loads(line)["signal_id"]
                for line in export(store, "signals", **filters).splitlines()]

    assert signal_ids() == ["sig-0", "sig-1", "sig-2"]
    assert signal_ids(account="acc-1") == ["sig-0", "sig-2"]
    assert signal_ids(strategy="strat-2") == ["sig-1"]
    assert signal_ids(tenant="other") == []
    assert signal_ids(since=NOW + timedelta(minutes=5)) == ["sig-1", "sig-2"]
    assert signal_ids(until=NOW + timedelta(minutes=5)) == ["sig-0"]


def test_fills_and_orders_as_csv(store: EventStore) -> None:
    store.append(lifecycles())

    fills = list(csv.DictReader(io.StringIO(export(store, "fills", "csv", account="acc-1"))))
    orders = list(csv.DictReader(io.StringIO(export(store, "orders", "csv"))))

    assert [(f["signal_id"], f["client_order_id"], f["quantity"], f["average_price"], f["fee"])
            for f in fills] == [("sig-0", "c-0", "1", "100.25", "0.05"),
                                ("sig-2", "c-2", "3", "100.25", "0.05")]
    assert list(fills[0]) == COLUMNS["fills"]
    assert [(o["signal_id"], o["type"], o["status"], o["side"]) for o in orders] == \
        [(f"sig-{n}", "order.requested", "requested", "buy") for n in range(3)]


def test_rows_stream_page_by_page(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.append(lifecycles())
    pages: list[int] = []
    read_page = store.read_page

    def counted(after: int, limit: int, types: Any = None) -> Any:
        pages.append(after)
        return read_page(after, limit, types)

    monkeypatch.setattr(store, "read_page", counted)
    rows = stream_rows(store, "events", Filters(), store.max_position(), batch=4)

    next(rows)
    assert len(pages) == 1  # the first row comes before the rest of the store is read
    assert len(list(rows)) == 8
    assert pages == [0, 4, 8]  # 12 stored rows (3 trails' opening rows) in pages of 4


def test_cli_export_with_manifest_and_signed_checkpoint(
    url: str, store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEHOOKS_DATABASE_URL", url)
    store.append(lifecycles())
    key = tmp_path / "key.pem"
    cp.new_key(key)
    out = tmp_path / "export"

    assert main(["export", "fills", "--format", "csv", "--account", "acc-1",
                 "--out", str(out), "--key", str(key)]) == 0

    manifest = json.loads((out / "manifest.json").read_text())
    data = (out / "fills.csv").read_bytes()
    assert manifest["rows"] == 2
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["chain"]["position"] == store.max_position()
    assert main(["verify", "--checkpoint", str(out / "checkpoint.json"),
                 "--public-key", f"{key}.pub"]) == 0


def test_cli_export_refuses_a_broken_chain(url: str, store: EventStore,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEHOOKS_DATABASE_URL", url)
    store.append(lifecycles())
    location = parse_store_url(url)
    if location.kind == "sqlite":
        with sqlite3.connect(location.sqlite_path) as conn:
            conn.execute("DELETE FROM stored_events_chain WHERE position = 3")
    else:
        import psycopg
        from psycopg import sql

        with psycopg.connect(f"postgresql://{location.user}@{location.host}:{location.port}/"
                             f"{location.dbname}") as conn:
            conn.execute(sql.SQL("DELETE FROM {} WHERE position = 3").format(
                sql.Identifier(location.schema, "tradehooks_events_chain")))

    assert main(["export", "events"]) == 1


def test_parquet_has_the_csv_rows(url: str, store: EventStore, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    monkeypatch.setenv("TRADEHOOKS_DATABASE_URL", url)
    store.append(lifecycles())

    assert main(["export", "fills", "--format", "parquet", "--out", str(tmp_path / "p")]) == 0
    assert main(["export", "fills", "--format", "csv", "--out", str(tmp_path / "c")]) == 0

    table = pq.read_table(tmp_path / "p" / "fills.parquet")
    as_csv = list(csv.DictReader((tmp_path / "c" / "fills.csv").open()))
    assert table.column_names == COLUMNS["fills"]
    assert table.num_rows == len(as_csv) == 3
    rows = table.to_pylist()
    assert [r["position"] for r in rows] == [int(r["position"]) for r in as_csv]
    assert [{k: str(v) for k, v in r.items()} for r in rows] == as_csv
    assert main(["export", "fills", "--format", "parquet"]) == 2  # a file needs --out


class _Discard(io.TextIOBase):
    """An output that keeps nothing (so only the export's own memory is measured)."""

    def write(self, text: str) -> int:
        return len(text)


def _peak_bytes(store: EventStore, kind: str, fmt: str) -> tuple[int, int]:
    """(rows, peak bytes allocated) of an export read 100 stored rows at a time."""
    tracemalloc.start()
    try:
        summary = write_export(store, kind, fmt, Filters(), _Discard(), store.max_position(),
                               batch=100)
        return summary.rows, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_export_holds_a_page_whatever_the_store_holds(store: EventStore) -> None:
    """Constant memory: ten times the rows, not ten times the memory (the page decides)."""
    def signals(first: int, count: int) -> list[AnyEvent]:
        return [make_received(event_id=f"m-{n}", signal_id=f"m-{n}",
                              occurred_at=NOW + timedelta(seconds=n))
                for n in range(first, first + count)]

    store.append(signals(0, 300))  # 600 stored rows: six pages
    small = {kind: _peak_bytes(store, kind, "csv") for kind in ("events", "signals")}
    for first in range(300, 3000, 900):
        store.append(signals(first, 900))  # 6,000 rows: sixty pages
    large = {kind: _peak_bytes(store, kind, "csv") for kind in ("events", "signals")}

    for kind in ("events", "signals"):
        assert large[kind][0] == 10 * small[kind][0]
        assert large[kind][1] < 1.5 * small[kind][1], (kind, small[kind], large[kind])
