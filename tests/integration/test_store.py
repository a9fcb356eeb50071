"""The event store and the account projection on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from conftest import BACKENDS
from eventsourcing.persistence import IntegrityError
from factories import (
    NOW,
    make_account_opened,
    make_failed,
    make_fill,
    make_order_requested,
    make_received,
    make_trade_executed,
    make_validated,
)

from contracts.events import AnyEvent, TradeExecuted, event_from_builtins, event_type
from projections.accounts import encode_view
from projections.persistence import eventsourcing_env, parse_store_url
from projections.projector import ACCOUNTS, AccountsProjector, rebuild_accounts, replay_accounts
from projections.readmodel import ReadModel, open_read_model
from projections.store import EventStore, open_store
from projections.trails import Trail

pytestmark = pytest.mark.parametrize("store_url", BACKENDS, indirect=True)

SIG_A = "sig-a"
SIG_B = "sig-b"


@pytest.fixture
def url(store_url: str, tmp_path: Path) -> str:
    return store_url or f"sqlite:///{tmp_path / 'events.sqlite'}"


@pytest.fixture
def store(url: str) -> Iterator[EventStore]:
    es = open_store(url)
    yield es
    es.close()


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

    def _load_or_start(self, correlation_id: str) -> Trail:
        trail = super()._load_or_start(correlation_id)
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

        errors = [o for o in outcomes if isinstance(o, BaseException)]
        wins = [o for o in outcomes if not isinstance(o, BaseException)]
        expected_new = 3 if existing else 4
        assert len(errors) == 1, outcomes
        assert isinstance(errors[0], IntegrityError), repr(errors[0])
        assert wins == [expected_new]

        # The loser's message is redelivered: retrying stores nothing new.
        loser = first if isinstance(outcomes[0], BaseException) else second
        assert loser.append(events) == 0

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
