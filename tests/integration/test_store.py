"""The event store and the account projection on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError
from factories import (
    NOW,
    make_account_opened,
    make_broker_order,
    make_failed,
    make_fill,
    make_order_requested,
    make_received,
    make_strategy_registered,
    make_tenant_created,
    make_trade_executed,
    make_validated,
)
from harness import BACKENDS

from bench.replay_fill import History, fill_stores, waves
from cli.replay import replay
from contracts.events import (
    AnyEvent,
    LegFilled,
    OrderPlaced,
    TradeExecuted,
    event_from_builtins,
    event_type,
)
from libs.runtime.config import Settings
from projections.accounts import AccountsProjection, encode_view
from projections.fastread import can_decode_fast, decode_recorded, select_rows
from projections.persistence import eventsourcing_env, parse_store_url
from projections.projector import ACCOUNTS, AccountsProjector, rebuild_accounts, replay_accounts
from projections.readmodel import ReadModel, open_read_model
from projections.store import RECORDED_TOPIC, EventStore, open_store
from projections.trails import Trail

pytestmark = pytest.mark.parametrize("store_url", BACKENDS, indirect=True)

SIG_A = "sig-a"
SIG_B = "sig-b"


@pytest.fixture
def read_model(url: str) -> Iterator[ReadModel]:
    rm = open_read_model(parse_store_url(url))
    yield rm
    rm.close()


def lifecycle(signal_id: str, prefix: str) -> list[AnyEvent]:
    """received → validated → order requested → trade executed of one signal."""
    return [
        make_received(event_id=f"{prefix}-1", signal_id=signal_id),
        make_validated(event_id=f"{prefix}-2", signal_id=signal_id),
        make_order_requested(event_id=f"{prefix}-3", signal_id=signal_id),
        make_trade_executed(event_id=f"{prefix}-4", signal_id=signal_id),
    ]


def stored(es: EventStore) -> list[tuple[int, AnyEvent]]:
    return list(es.iter_events())


# --- appending ------------------------------------------------------------------------


def test_append_stores_each_event_once(store: EventStore) -> None:
    batch = [*lifecycle(SIG_A, "a"), make_failed(event_id="b-1", signal_id=SIG_B)]

    assert store.append(batch) == 5
    position = store.max_position()
    assert store.append(batch) == 0
    assert store.append(list(reversed(batch))) == 0

    assert store.max_position() == position
    assert [ev for _, ev in stored(store)] == batch


def test_a_signals_later_events_extend_its_kept_trail_without_reading_it_back(
    store: EventStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = lifecycle(SIG_A, "a")
    assert store.append(events[:2]) == 2

    def no_reads(*_: Any, **__: Any) -> None:
        raise AssertionError("the trail was read back from the store")

    monkeypatch.setattr(store.repository, "get", no_reads)
    assert store.append(events[1:]) == 2  # a-2 again (a redelivery), a-3, a-4
    monkeypatch.undo()
    assert [ev for _, ev in stored(store)] == events
    trail = store.trail(SIG_A)
    assert trail is not None and [e["event_id"] for e in trail] == ["a-1", "a-2", "a-3", "a-4"]


def test_a_signals_first_event_starts_its_trail_unread_and_a_repeat_is_still_found(
    url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = open_store(url), open_store(url)
    try:
        events = lifecycle(SIG_A, "a")

        def no_reads(*_: Any, **__: Any) -> None:
            raise AssertionError("the store was searched for the new signal's trail")

        monkeypatch.setattr(first.repository, "get", no_reads)
        assert first.append(events[:1]) == 1  # webhook.received: nothing read
        monkeypatch.undo()
        # Another instance (or this one after a restart) gets it again with the next
        # event: its unread new trail conflicts on save, the retry reads the stored one.
        assert second.append(events[:2]) == 1
        assert second.append(events[:1]) == 0  # kept now: found without a conflict
        assert [ev for _, ev in stored(second)] == events[:2]
        trail = second.trail(SIG_A)
        assert trail is not None and [e["event_id"] for e in trail] == ["a-1", "a-2"]
    finally:
        first.close()
        second.close()


def test_a_kept_trail_another_instance_extended_is_read_afresh(url: str) -> None:
    first, second = open_store(url), open_store(url)
    try:
        events = lifecycle(SIG_A, "a")
        assert first.append(events[:2]) == 2  # first keeps the trail at a-2
        assert second.append(events[:3]) == 1  # second stores a-3
        # first's kept trail lacks a-3: its save conflicts, it reads the trail
        # again and stores only a-4, in order.
        assert first.append(events[2:]) == 1
        assert [ev for _, ev in stored(first)] == events
    finally:
        first.close()
        second.close()


def test_append_skips_duplicates_inside_a_batch_and_stores_only_the_new(
    store: EventStore,
) -> None:
    first, second, third, _ = lifecycle(SIG_A, "a")

    assert store.append([first, first, second]) == 2
    assert store.append([second, third, first]) == 1

    assert [ev.event_id for _, ev in stored(store)] == ["a-1", "a-2", "a-3"]


def test_trail_returns_a_signals_events_in_order_with_their_type(store: EventStore) -> None:
    events = lifecycle(SIG_A, "a")
    store.append(events[:2])
    store.append([make_failed(event_id="b-1", signal_id=SIG_B)])
    store.append(events[2:])

    trail = store.trail(SIG_A)

    assert trail is not None
    assert [entry["type"] for entry in trail] == [
        "webhook.received", "webhook.validated", "order.requested", "webhook.trade_executed",
    ]
    assert [entry["event_id"] for entry in trail] == ["a-1", "a-2", "a-3", "a-4"]
    assert [event_from_builtins(entry) for entry in trail] == events
    other = store.trail(SIG_B)
    assert other is not None
    assert [(e["type"], e["event_id"]) for e in other] == [("webhook.failed", "b-1")]


def test_trail_of_an_unknown_signal_is_none(store: EventStore) -> None:
    assert store.trail("never-seen") is None
    store.append(lifecycle(SIG_A, "a"))
    assert store.trail("never-seen") is None


def test_iter_events_yields_append_order_with_increasing_positions(store: EventStore) -> None:
    a = lifecycle(SIG_A, "a")
    b = lifecycle(SIG_B, "b")
    store.append(a[:2])
    store.append(b[:3])
    store.append(a[2:])
    store.append(b[3:])

    out = stored(store)

    assert [ev for _, ev in out] == a[:2] + b[:3] + a[2:] + b[3:]
    positions = [pos for pos, _ in out]
    assert positions == sorted(set(positions))
    assert positions[-1] == store.max_position()
    # Resuming after a position yields exactly the rest.
    middle = positions[3]
    assert list(store.iter_events(after=middle)) == out[4:]
    assert list(store.iter_events(after=store.max_position())) == []


def test_iter_events_keeps_append_order_within_one_interleaved_batch(
    store: EventStore,
) -> None:
    a = lifecycle(SIG_A, "a")
    b = lifecycle(SIG_B, "b")
    batch = [a[0], b[0], a[1], b[1]]

    store.append(batch)

    assert [ev for _, ev in stored(store)] == batch


def test_empty_store_has_position_zero_and_no_events(store: EventStore) -> None:
    assert store.max_position() == 0
    assert stored(store) == []
    assert store.append([]) == 0


# --- two auditor instances on one database ----------------------------------------------


class _GatedStore(EventStore):
    """An EventStore whose first append waits, after loading, until the other one loaded."""

    name = "tradehooks"  # same tables as EventStore

    def __init__(self, barrier: threading.Barrier, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.barrier = barrier
        self.gated = True

    def _load_or_start(self, correlation_id: str, new: bool = False) -> Trail:
        trail = super()._load_or_start(correlation_id, new)
        if self.gated:
            self.gated = False
            self.barrier.wait(timeout=20)
        return trail


def test_two_instances_appending_the_same_event_store_it_once(url: str) -> None:
    first, second = open_store(url), open_store(url)
    try:
        events = lifecycle(SIG_A, "a")
        assert first.append(events[:2]) == 2
        assert second.append(events[:2]) == 0
        assert second.append(events[:3]) == 1
        assert first.append(events) == 1

        for es in (first, second):
            assert [ev for _, ev in stored(es)] == events
            trail = es.trail(SIG_A)
            assert trail is not None
            assert [e["event_id"] for e in trail] == ["a-1", "a-2", "a-3", "a-4"]
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("existing", [False, True], ids=["new-trail", "existing-trail"])
def test_concurrent_first_save_of_two_instances_stores_once_and_retry_adds_nothing(
    url: str, existing: bool,
) -> None:
    env = open_store(url)  # creates the tables first
    events = lifecycle(SIG_A, "a")
    if existing:
        env.append(events[:1])
    barrier = threading.Barrier(2)
    settings = eventsourcing_env(parse_store_url(url))
    first = _GatedStore(barrier, env=settings)
    second = _GatedStore(barrier, env=settings)
    try:
        # Both load the trail before either saves: exactly one save must lose.
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(es.append, events) for es in (first, second)]
            outcomes: list[int | BaseException] = []
            for future in futures:
                exc = future.exception(timeout=30)
                outcomes.append(exc if exc is not None else future.result())

        # One stores the new events. Both started the trail unread (webhook.received
        # comes first), so the other's save conflicts and it reads the trail again:
        # a new trail it then finds complete (it stores nothing); an existing one both
        # conflicted on, and their retries race: the loser of that raises
        # IntegrityError (its message is redelivered) or, retrying after the winner
        # committed, stores nothing.
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        stored_counts = sorted(o for o in outcomes if not isinstance(o, BaseException))
        assert all(isinstance(e, IntegrityError) for e in errors), outcomes
        if existing:
            assert stored_counts in ([3], [0, 3]), outcomes
        else:
            assert (errors, stored_counts) == ([], [0, 4]), outcomes

        # Whichever lost, its message is redelivered: retrying stores nothing new.
        for es in (first, second):
            assert es.append(events) == 0

        for es in (first, second, env):
            assert [ev for _, ev in stored(es)] == events
            trail = es.trail(SIG_A)
            assert trail is not None
            assert [e["event_id"] for e in trail] == ["a-1", "a-2", "a-3", "a-4"]
    finally:
        first.close()
        second.close()
        env.close()


# --- the account projection -----------------------------------------------------------


def trade(event_id: str, signal_id: str, side: str, quantity: str, price: str,
          fee: str = "0", account_id: str = "acc-1", symbol: str = "AAPL") -> TradeExecuted:
    return make_trade_executed(
        event_id=event_id, signal_id=signal_id, account_id=account_id,
        fill=make_fill(order_id=f"ord-{event_id}", client_order_id=f"cid-{event_id}",
                       symbol=symbol, side=side, quantity=D(quantity), average_price=D(price),
                       fee=D(fee), filled_at=NOW),
    )


OPENINGS = [
    make_account_opened(event_id="open-1", account_id="acc-1", starting_cash=D(100_000)),
    make_account_opened(event_id="open-2", account_id="acc-2", tenant_id="globex",
                        name="Other", starting_cash=D(50_000)),
]
FIRST_FILLS = [
    trade("t1", "s1", "buy", "10", "100", fee="1"),
    trade("t2", "s2", "buy", "5", "110"),
    trade("t3", "s3", "sell", "8", "120", fee="0.5"),
    trade("t4", "s4", "sell", "3", "200", account_id="acc-2", symbol="MSFT"),
]
LATER_FILLS = [
    trade("t5", "s5", "buy", "2", "130"),
    trade("t6", "s6", "sell", "11", "90", fee="0.25"),  # flips 9 long into 2 short
    trade("t7", "s7", "buy", "1", "210", account_id="acc-2", symbol="MSFT"),
]


def expected_cash(start: D, fills: list[TradeExecuted]) -> D:
    cash = start
    for ev in fills:
        f = ev.fill
        signed = f.quantity if f.side == "buy" else -f.quantity
        cash -= signed * f.average_price + f.fee
    return cash


def rebuilt_bodies(es: EventStore) -> dict[str, str]:
    views, _, _ = rebuild_accounts(es)
    return {key: encode_view(view).decode() for key, view in views.items()}


class _CrashOnSave:
    """A read model whose next save fails, as if the process died mid-write."""

    def __init__(self, inner: ReadModel) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def save(self, projection: str, bodies: dict[str, str], position: int) -> None:
        raise ConnectionError("killed before the commit")


def test_projector_restarts_without_applying_a_fill_twice(
    store: EventStore, read_model: ReadModel,
) -> None:
    store.append(OPENINGS)
    store.append(FIRST_FILLS[:2])
    store.append(FIRST_FILLS[2:])

    assert AccountsProjector(store, read_model).catch_up() == 6
    assert read_model.position(ACCOUNTS) == store.max_position()
    assert read_model.all(ACCOUNTS) == rebuilt_bodies(store)

    store.append(LATER_FILLS[:2])
    store.append([FIRST_FILLS[1]])  # redelivered: not stored again
    # A projector applies the new events in memory, then dies before saving them.
    crashed = AccountsProjector(store, _CrashOnSave(read_model))  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        crashed.catch_up()
    store.append(LATER_FILLS[2:])

    # Restart: a new projector over the same read model.
    restarted = AccountsProjector(store, read_model)
    assert restarted.catch_up() == 3
    assert restarted.catch_up() == 0

    assert read_model.position(ACCOUNTS) == store.max_position()
    assert read_model.all(ACCOUNTS) == rebuilt_bodies(store)
    views, position, events = rebuild_accounts(store)
    assert (position, events) == (store.max_position(), 9)

    fills_1 = [ev for ev in FIRST_FILLS + LATER_FILLS if ev.account_id == "acc-1"]
    fills_2 = [ev for ev in FIRST_FILLS + LATER_FILLS if ev.account_id == "acc-2"]
    book_1 = views["acc-1"].book
    book_2 = views["acc-2"].book
    assert book_1.fills == len(fills_1) == 5
    assert book_2.fills == len(fills_2) == 2
    assert book_1.cash == expected_cash(D(100_000), fills_1) == D("100138.25")
    assert book_2.cash == expected_cash(D(50_000), fills_2) == D(50_390)
    assert book_1.positions["AAPL"].quantity == D(-2)
    assert book_2.positions["MSFT"].quantity == D(-2)
    assert book_1.fees_paid == D("1.75")


def test_projector_catch_up_in_small_batches_matches_rebuild(
    store: EventStore, read_model: ReadModel,
) -> None:
    for ev in OPENINGS + FIRST_FILLS + LATER_FILLS:
        store.append([ev])
    projector = AccountsProjector(store, read_model)

    assert projector.catch_up(batch=2) == 9

    assert read_model.position(ACCOUNTS) == store.max_position()
    assert read_model.all(ACCOUNTS) == rebuilt_bodies(store)


def test_replay_reports_identical_then_detects_and_repairs_tampering(
    store: EventStore, read_model: ReadModel,
) -> None:
    store.append(OPENINGS + FIRST_FILLS + LATER_FILLS)
    AccountsProjector(store, read_model).catch_up()
    good = rebuilt_bodies(store)
    position = store.max_position()

    report = replay_accounts(store, read_model)
    assert report.identical is True
    assert (report.events, report.accounts, report.position) == (9, 2, position)
    assert read_model.all(ACCOUNTS) == good

    wrong = good["acc-1"].replace('"fills":5', '"fills":6')
    assert wrong != good["acc-1"]
    read_model.save(ACCOUNTS, {"acc-1": wrong, "ghost": good["acc-2"]}, position)
    assert read_model.get(ACCOUNTS, "acc-1") == wrong

    report = replay_accounts(store, read_model)
    assert report.identical is False
    assert read_model.all(ACCOUNTS) == good
    assert read_model.position(ACCOUNTS) == position

    assert replay_accounts(store, read_model).identical is True


def test_replay_of_an_empty_read_model_is_not_identical_and_fills_it(
    store: EventStore, read_model: ReadModel,
) -> None:
    store.append(OPENINGS + FIRST_FILLS)

    report = replay_accounts(store, read_model)

    assert report.identical is False
    assert read_model.all(ACCOUNTS) == rebuilt_bodies(store)
    assert read_model.position(ACCOUNTS) == store.max_position()


# --- durability -------------------------------------------------------------------------


def test_events_survive_reopening_the_store(url: str) -> None:
    events = lifecycle(SIG_A, "a")
    es = open_store(url)
    es.append(events)
    before = stored(es)
    position = es.max_position()
    es.close()

    reopened = open_store(url)
    try:
        trail = reopened.trail(SIG_A)
        assert trail is not None
        assert [event_type(event_from_builtins(e)) for e in trail] == [
            event_type(ev) for ev in events]
        assert stored(reopened) == before
        assert reopened.max_position() == position
        assert reopened.append(events) == 0
        assert reopened.append([make_failed(event_id="a-5", signal_id=SIG_A)]) == 1
        assert reopened.max_position() > position
    finally:
        reopened.close()


def test_read_model_survives_reopening(url: str, store: EventStore) -> None:
    store.append(OPENINGS + FIRST_FILLS)
    rm = open_read_model(parse_store_url(url))
    AccountsProjector(store, rm).catch_up()
    bodies = rm.all(ACCOUNTS)
    rm.close()

    reopened = open_read_model(parse_store_url(url))
    try:
        assert reopened.all(ACCOUNTS) == bodies == rebuilt_bodies(store)
        assert reopened.position(ACCOUNTS) == store.max_position()
        assert AccountsProjector(store, reopened).catch_up() == 0
    finally:
        reopened.close()


# --- the fast read path (projections.fastread) -------------------------------------------


def general_path(es: EventStore) -> list[tuple[int, AnyEvent | None]]:
    """What read_events gave before the fast path: eventsourcing's mapper per row."""
    out: list[tuple[int, AnyEvent | None]] = []
    for notification in es.recorder.select_notifications(start=1, limit=10_000):
        domain_event = es.mapper.to_domain_event(notification)
        body = getattr(domain_event, "body", None)
        out.append((notification.id, None if body is None else event_from_builtins(body)))
    return out


# Payloads a webhook may carry that the two decoders could read differently.
AWKWARD_PAYLOADS: list[dict[str, Any]] = [
    {"price": 0.1, "big": 123456789012345678901234567890, "neg": -0.0, "exp": 1e300},
    {"text": 'quote " backslash \\ tab \t snowman \u2603 emoji \U0001f600 nul \x00'},
    {"nested": [{"a": [1, 2.5, None, True]}, {}], "": "empty key"},
    {"looks_tagged": 'x"_type_"', "_type_": "not alone", "n": 1},
    # Exactly the JSON transcoder's tag shape: the general path turns it into a Decimal.
    {"tagged": {"_type_": "decimal_str", "_data_": "1.50"}},
]


def variety() -> list[AnyEvent]:
    """Every kind of pipeline event, plus received events with awkward payloads."""
    order = make_broker_order()
    filled = make_broker_order(status="filled", fill=make_fill())
    return [
        make_tenant_created(event_id="v-0", signal_id="tenant:acme"),
        *OPENINGS,
        make_strategy_registered(event_id="v-1", signal_id="strategy:s"),
        *lifecycle(SIG_A, "a"),
        make_failed(event_id="v-2", signal_id=SIG_B),
        OrderPlaced(event_id="v-3", signal_id="sig-c", tenant_id="acme", occurred_at=NOW,
                    strategy_id="s", account_id="acc-1", broker="paper", order=order),
        LegFilled(event_id="v-4", signal_id="sig-c", tenant_id="acme", occurred_at=NOW,
                  strategy_id="s", account_id="acc-1", broker="paper", leg="sl",
                  order=filled, fill=make_fill(side="sell", quantity=D("2.5"))),
        *[make_received(event_id=f"p-{i}", signal_id=f"sig-p{i}", payload=payload)
          for i, payload in enumerate(AWKWARD_PAYLOADS)],
        *FIRST_FILLS,
    ]


def test_read_events_equals_eventsourcings_general_path(store: EventStore) -> None:
    events = variety()
    store.append(events[:7])
    store.append(events[7:])

    fast = store.read_events(0, 10_000)

    assert fast == general_path(store)
    # Both read back what was appended, except the payload shaped like a transcoder
    # tag, which eventsourcing's decoder turns into a Decimal (kept as it was).
    read_back = [ev for _, ev in fast if ev is not None]
    assert [ev for ev in read_back if ev.event_id != "p-4"] == [
        ev for ev in events if ev.event_id != "p-4"]
    # Paging does not change anything.
    assert [pair for pos in range(0, len(fast), 3)
            for pair in store.read_events(fast[pos][0] - 1, 3)] == fast


def test_fast_decoder_is_used_except_for_tagged_payloads(store: EventStore) -> None:
    events = variety()
    store.append(events)
    rows = [row for row in select_rows(store.recorder, 0, 10_000) if row[1] == RECORDED_TOPIC]

    decoded = [decode_recorded(state) for _, _, state in rows]

    assert can_decode_fast(store.mapper)
    # A payload holding the tag's text is left to the general path (p-3 is only
    # suspicious, p-4 is really tagged); every other state is decoded fast.
    slow_ids = {"p-3", "p-4"}
    assert [ev is None for ev in decoded] == [ev.event_id in slow_ids for ev in events]
    assert [ev for ev in decoded if ev is not None] == [
        ev for ev in events if ev.event_id not in slow_ids]


def test_select_rows_equals_select_notifications(store: EventStore) -> None:
    store.append(variety())

    notifications = store.recorder.select_notifications(start=3, limit=5)

    assert select_rows(store.recorder, 2, 5) == [(n.id, n.topic, n.state) for n in notifications]
    assert select_rows(store.recorder, store.max_position(), 5) == []


# --- the replay bench's bulk fill (bench.replay_fill) ------------------------------------


def rows_without_timestamps(es: EventStore) -> list[tuple[Any, ...]]:
    """Every stored row, its state decoded, without the wall-clock ``timestamp``."""
    out = []
    for n in es.recorder.select_notifications(start=1, limit=10_000):
        state = es.mapper.transcoder.decode(n.state)
        assert isinstance(state.pop("timestamp"), datetime)
        out.append((n.id, n.originator_id, n.originator_version, n.topic, state))
    return out


def test_bulk_fill_stores_the_rows_append_stores(url: str, store: EventStore,
                                                 tmp_path: Path) -> None:
    reference = open_store(f"sqlite:///{tmp_path / 'reference.sqlite'}")
    try:
        for batch in waves(History(accounts=5), 400, wave=8):
            reference.append(batch)

        assert fill_stores([store], 400, accounts=5, wave=8) == 400

        assert rows_without_timestamps(store) == rows_without_timestamps(reference)
        assert rebuilt_bodies(store) == rebuilt_bodies(reference)
        assert len(rebuilt_bodies(store)) == 5
    finally:
        reference.close()


def test_replay_command_shows_progress_on_request_and_reports_identical(
    url: str, store: EventStore, read_model: ReadModel, capsys: pytest.CaptureFixture[str],
) -> None:
    store.append(OPENINGS + FIRST_FILLS)
    AccountsProjector(store, read_model).catch_up()
    settings = Settings(database_url=url)

    assert replay(settings, progress=True) == 0

    out, err = capsys.readouterr()
    assert "replayed 6 events" in out
    assert "identical to the live projection: yes" in out
    total = store.max_position()
    assert f"100%  {total:,}/{total:,} stored  6 events" in err

    assert replay(settings) == 0  # stderr is no terminal here: no bar
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("types", [None, AccountsProjection.TYPES, {"webhook.received"}],
                         ids=["all", "accounts", "received"])
def test_read_page_decodes_only_the_requested_types_and_equals_read_events(
    store: EventStore, types: set[str] | None,
) -> None:
    store.append(variety())
    everything = [ev for _, ev in store.read_events(0, 10_000) if ev is not None]
    last = store.max_position()

    page = store.read_page(0, 10_000, types)

    assert page.events == [ev for ev in everything if types is None or event_type(ev) in types]
    assert (page.position, page.notifications, page.recorded) == (last, last, len(everything))
    end = store.read_page(last, 10, types)
    assert (end.position, end.notifications, end.recorded, end.events) == (last, 0, 0, [])
