"""The signal history read model on SQLite and on PostgreSQL: rows, filters, cursors,
search, tenants, atomic catch-up and a replay that rebuilds it identically."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal as D

import pytest
from factories import (
    NOW,
    make_broker_order,
    make_failed,
    make_fill,
    make_order,
    make_order_requested,
    make_received,
    make_signal,
    make_trade_executed,
    make_validated,
)
from harness import BACKENDS

from contracts.events import AnyEvent, LegFilled, OrderPlaced
from projections.persistence import parse_store_url
from projections.signal_store import SignalQuery, SignalStore, open_signal_store
from projections.signals import to_us
from projections.signals_projector import SignalsProjector, replay_signals
from projections.store import EventStore

pytestmark = pytest.mark.parametrize("store_url", BACKENDS, indirect=True)


@pytest.fixture
def signals(url: str) -> Iterator[SignalStore]:
    history = open_signal_store(parse_store_url(url))
    yield history
    history.close()


def executed(sid: str, n: int, *, tenant: str = "acme", account: str = "acc-1",
             strategy: str = "strat-1", symbol: str = "AAPL") -> list[AnyEvent]:
    """One signal received at NOW + n seconds that filled 10 at 100 after 250 ms."""
    at = NOW + timedelta(seconds=n)
    base = {"signal_id": sid, "tenant_id": tenant, "account_id": account,
            "strategy_id": strategy}
    coid = f"{strategy}-{n}-{sid[:8]}"
    return [
        make_received(event_id=f"{sid}-r", occurred_at=at, **base),
        make_validated(event_id=f"{sid}-v", occurred_at=at, signal=make_signal(symbol=symbol),
                       **base),
        make_order_requested(event_id=f"{sid}-o", occurred_at=at, **base,
                             order=make_order(client_order_id=coid, symbol=symbol)),
        make_trade_executed(event_id=f"{sid}-x", occurred_at=at + timedelta(milliseconds=250),
                            **base, fill=make_fill(order_id=f"ord-{sid}",
                                                   client_order_id=coid, symbol=symbol)),
    ]


def failed(sid: str, n: int, *, tenant: str = "acme", account: str = "acc-1") -> list[AnyEvent]:
    at = NOW + timedelta(seconds=n)
    base = {"signal_id": sid, "tenant_id": tenant, "account_id": account}
    return [make_received(event_id=f"{sid}-r", occurred_at=at, **base),
            make_validated(event_id=f"{sid}-v", occurred_at=at, **base),
            make_failed(event_id=f"{sid}-f", occurred_at=at + timedelta(seconds=1), **base)]


def test_a_row_says_what_happened(store: EventStore, signals: SignalStore) -> None:
    store.append(executed("sig-a", 1) + failed("sig-b", 2))
    assert SignalsProjector(store, signals).catch_up() == 7
    newest, oldest = signals.page(SignalQuery())
    assert (newest.signal_id, newest.status, newest.stage) == ("sig-b", "failed", "risk")
    assert (newest.code, newest.reason, newest.latency_ms) == ("max_order_notional",
                                                              "too big", 1000.0)
    assert (oldest.status, oldest.symbol, oldest.side) == ("executed", "AAPL", "buy")
    assert (oldest.order_id, oldest.fill_price, oldest.fill_quantity) == ("ord-sig-a",
                                                                          D(100), D(10))
    assert oldest.latency_ms == 250.0
    assert oldest.client_order_id == "strat-1-1-sig-a"


def test_a_resting_order_then_its_legs_leave_the_row_as_it_ended(
        store: EventStore, signals: SignalStore) -> None:
    events = executed("sig-a", 1)
    placed = OrderPlaced(event_id="sig-a-p", signal_id="sig-a", tenant_id="acme",
                         occurred_at=NOW, strategy_id="strat-1", account_id="acc-1",
                         broker="paper", order=make_broker_order(order_id="ord-sig-a"))
    leg = LegFilled(event_id="sig-a-leg", signal_id="sig-a", tenant_id="acme",
                    occurred_at=NOW, strategy_id="strat-1", account_id="acc-1",
                    broker="paper", leg="sl",
                    order=make_broker_order(order_id="leg-1", leg="sl"),
                    fill=make_fill(order_id="leg-1", side="sell"))
    store.append([*events[:3], placed])
    projector = SignalsProjector(store, signals)
    projector.catch_up()
    (row,) = signals.page(SignalQuery())
    assert (row.status, row.stage, row.order_id) == ("accepted", "order_open", "ord-sig-a")
    store.append([events[3], leg])
    projector.catch_up()
    (row,) = signals.page(SignalQuery())
    assert (row.status, row.order_id, row.fill_quantity) == ("executed", "ord-sig-a", D(10))
    # The leg changed the account (the live stream says so), not the signal.
    (touch,) = signals.accounts_touched_since(0, None)
    assert (touch.account_id, touch.cause) == ("acc-1", "order.leg_filled")


def test_filters_cursor_and_search(store: EventStore, signals: SignalStore) -> None:
    events: list[AnyEvent] = []
    for n in range(30):
        sid = f"sig-{n:02d}"
        if n % 3 == 0:
            events += failed(sid, n, account="acc-2")
        else:
            events += executed(sid, n, symbol="MSFT" if n % 2 else "AAPL",
                               tenant="other" if n == 29 else "acme")
    store.append(events)
    SignalsProjector(store, signals).catch_up()

    ids = [r.signal_id for r in signals.page(SignalQuery(limit=100))]
    assert ids == [f"sig-{n:02d}" for n in reversed(range(30))]
    seen: list[str] = []
    cursor = None
    while True:
        page = signals.page(SignalQuery(tenant_id="acme", limit=7, before=cursor))
        seen += [r.signal_id for r in page]
        if len(page) < 7:
            break
        cursor = (page[-1].received_us, page[-1].seq)
    assert seen == [i for i in ids if i != "sig-29"]  # another tenant's never shows

    failures = signals.page(SignalQuery(status="failed", limit=100))
    assert [r.signal_id for r in failures] == [f"sig-{n:02d}" for n in range(27, -1, -3)]
    assert {r.account_id for r in signals.page(SignalQuery(account_id="acc-2"))} == {"acc-2"}
    msft = signals.page(SignalQuery(symbol="MSFT", tenant_id="acme", limit=100))
    assert [r.signal_id for r in msft] == [f"sig-{n:02d}" for n in (25, 23, 19, 17, 13, 11,
                                                                    7, 5, 1)]
    window = signals.page(SignalQuery(since_us=to_us(NOW + timedelta(seconds=10)),
                                      until_us=to_us(NOW + timedelta(seconds=13))))
    assert [r.signal_id for r in window] == ["sig-12", "sig-11", "sig-10"]
    # q finds by signal id, client order id, broker order id or failure code.
    assert [r.signal_id for r in signals.page(SignalQuery(q="SIG-04"))] == ["sig-04"]
    assert [r.signal_id for r in signals.page(SignalQuery(q="strat-1-5-sig-05"))] == ["sig-05"]
    assert [r.signal_id for r in signals.page(SignalQuery(q="ord-sig-07"))] == ["sig-07"]
    by_code = signals.page(SignalQuery(q="max_order_notional", limit=3,
                                       before=(to_us(NOW + timedelta(seconds=20)), 10**9)))
    assert [r.signal_id for r in by_code] == ["sig-18", "sig-15", "sig-12"]
    assert signals.page(SignalQuery(q="sig-29", tenant_id="acme")) == []


def test_a_failed_save_applies_nothing_twice(store: EventStore, signals: SignalStore) -> None:
    store.append(executed("sig-a", 1)[:2])
    SignalsProjector(store, signals).catch_up()
    store.append(executed("sig-a", 1)[2:] + failed("sig-b", 2))
    projector = SignalsProjector(store, signals)
    real_save = signals.save

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    signals.save = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        projector.catch_up()
    signals.save = real_save  # type: ignore[method-assign]
    projector.catch_up()
    rows = {r.signal_id: r for r in signals.page(SignalQuery())}
    assert (rows["sig-a"].status, rows["sig-a"].fills) == ("executed", 1)
    assert rows["sig-b"].status == "failed"


def test_replay_rebuilds_the_live_history_identically(
        store: EventStore, signals: SignalStore) -> None:
    projector = SignalsProjector(store, signals)
    for n in range(12):  # stored and projected in many small steps, as live
        store.append(executed(f"sig-{n}", n) if n % 2 else failed(f"sig-{n}", n))
        projector.catch_up(batch=3)
    live = signals.dump()
    report = replay_signals(store, signals)
    assert report.identical is True
    assert (report.signals, signals.dump()) == (12, live)
    # A history that lost a row is put right by replay, and says it was not identical.
    with signals.sql.write() as many:
        many("DELETE FROM {p}th_signals WHERE signal_id = ?", [("sig-3",)])
    report = replay_signals(store, signals)
    assert report.identical is False
    assert signals.dump() == live


def test_every_list_query_walks_an_index(signals: SignalStore, url: str) -> None:
    if not url.startswith("sqlite"):
        pytest.skip("SQLite's plan names the index; PostgreSQL's depends on its statistics")
    queries = [SignalQuery(), SignalQuery(tenant_id="t"), SignalQuery(strategy_id="s"),
               SignalQuery(account_id="a"), SignalQuery(symbol="AAPL"),
               SignalQuery(status="failed"), SignalQuery(q="x"),
               SignalQuery(tenant_id="t", before=(1, 2), since_us=0, until_us=5)]
    captured: list[str] = []
    real_rows = signals.sql.rows

    def explain(sql: str, params: list[object]) -> list[tuple[object, ...]]:
        plan = real_rows("EXPLAIN QUERY PLAN " + sql, params)
        captured.append(" | ".join(str(step[-1]) for step in plan))
        return []

    signals.sql.rows = explain  # type: ignore[method-assign]
    for query in queries:
        signals.page(query)
    assert len(captured) == len(queries)
    for plan in captured:
        assert "USING INDEX" in plan or "USING PRIMARY KEY" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # never a sort of everything matched


def test_cli_signals_filters_and_pages_to_the_end(
    url: str, store: EventStore, signals: SignalStore, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cli import signals as signals_cli
    from cli.main import main

    monkeypatch.setenv("TRADEHOOKS_DATABASE_URL", url)
    monkeypatch.setattr(signals_cli, "_PAGE", 4)  # several pages with few rows
    events: list[AnyEvent] = []
    for n in range(12):
        sid = f"sig-{n:02d}"
        events += failed(sid, n) if n % 3 == 0 else executed(sid, n, strategy="strat-x")
    store.append(events)
    SignalsProjector(store, signals).catch_up()
    capsys.readouterr()

    assert main(["signals", "--status", "failed", "--all", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["signal_id"] for r in rows] == ["sig-09", "sig-06", "sig-03", "sig-00"]

    assert main(["signals", "--strategy", "strat-x", "--since", "2024-05-01T14:30:05Z",
                 "--all", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["signal_id"] for r in rows] == [f"sig-{n:02d}" for n in (11, 10, 8, 7, 5)]

    assert main(["signals", "--limit", "2"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 3 and "sig-11" in table[1] and "sig-10" in table[2]
    assert main(["signals", "--since", "last week"]) == 2
