"""An account at any past moment, from the store, on SQLite and PostgreSQL: the
answer folded from snapshots equals a fold of every event from the start, at every
position, whether the timeline is caught up, lagging, or restarted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from factories import (
    NOW,
    make_account_opened,
    make_broker_order,
    make_failed,
    make_fill,
    make_received,
    make_strategy_registered,
    make_trade_executed,
)
from harness import BACKENDS

from cli.main import main
from contracts.events import (
    AccountUpdated,
    AnyEvent,
    BreakerTripped,
    OrderPlaced,
    StrategyUpdated,
)
from projections.as_of import parse_moment, strategy_as_of
from projections.persistence import parse_store_url
from projections.projector import rebuild_accounts
from projections.store import EventStore
from projections.timeline import AccountAt, account_of, apply, instant, new_state, to_api
from projections.timeline_projector import TimelineProjector, position_at_time, state_at
from projections.timeline_store import TimelineStore, open_timeline

pytestmark = pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
RECORD = {"id": "acc-1", "tenant_id": "acme", "name": "Main", "broker": "alpaca",
          "alpaca": {"api_key": "sealed-a", "secret_key": "sealed-b", "paper": True},
          "risk": {"max_open_positions": 3}}


@pytest.fixture
def timeline(url: str) -> Iterator[TimelineStore]:
    tl = open_timeline(parse_store_url(url))
    yield tl
    tl.close()


def at(minutes: int) -> dict[str, object]:
    return {"occurred_at": NOW + timedelta(minutes=minutes)}


def history(trades: int = 12) -> list[AnyEvent]:
    """An account opened, trading AAPL in and out, a resting order placed then
    filled, another cancelled, settings changed, the breaker pausing it; a second
    account's events interleaved."""
    events: list[AnyEvent] = [
        make_account_opened(event_id="open-1", record=RECORD, **at(0)),
        make_account_opened(event_id="open-2", account_id="acc-2", **at(0)),
        make_received(event_id="noise", signal_id="s-noise", **at(1)),  # not a state change
    ]
    for i in range(trades):
        side = "buy" if i % 3 != 2 else "sell"
        events.append(make_trade_executed(
            event_id=f"t-{i}", signal_id=f"s-{i}", **at(2 + i),
            fill=make_fill(client_order_id=f"c-{i}", side=side, quantity=D(2),
                           average_price=D(100 + i), fee=D("0.5"))))
        events.append(make_trade_executed(
            event_id=f"u-{i}", signal_id=f"u-{i}", account_id="acc-2", **at(2 + i),
            fill=make_fill(client_order_id=f"d-{i}", quantity=D(1))))
    resting = make_broker_order(client_order_id="limit-1", limit_price=D(90))
    events += [
        OrderPlaced(event_id="p-1", signal_id="s-lim", tenant_id="acme", strategy_id="st",
                    account_id="acc-1", broker="paper", order=resting, **at(30)),  # type: ignore[arg-type]
        OrderPlaced(event_id="p-2", signal_id="s-lim2", tenant_id="acme", strategy_id="st",
                    account_id="acc-1", broker="paper",
                    order=make_broker_order(client_order_id="limit-2"), **at(31)),  # type: ignore[arg-type]
        AccountUpdated(event_id="upd", signal_id="", tenant_id="acme", account_id="acc-1",
                       changes={"risk": {"max_open_positions": 5}},
                       record={**RECORD, "risk": {"max_open_positions": 5}}, **at(32)),  # type: ignore[arg-type]
        make_trade_executed(event_id="t-lim", signal_id="s-lim", **at(33),
                            fill=make_fill(client_order_id="limit-1", average_price=D(90))),
        make_failed(event_id="f-lim2", signal_id="s-lim2", stage="execute",
                    code="order_canceled", details={"client_order_id": "limit-2"}, **at(34)),
        BreakerTripped(event_id="trip", signal_id="trip-1", tenant_id="acme",
                       account_id="acc-1", kind="sl", equity=D(1), threshold=D(2),
                       base_equity=D(3), paused=True, reason="equity fell", **at(35)),  # type: ignore[arg-type]
    ]
    return events


def brute_force(store: EventStore, account: str, position: int) -> AccountAt | None:
    """The account folded from the first stored event, no snapshot, no index."""
    state = None
    for pos, event in store.iter_events():
        if pos > position:
            break
        if account_of(event) == account:
            state = state or new_state(account, event.tenant_id)
            apply(state, event, pos)
    return state


def test_every_position_folds_to_what_a_full_replay_gives(
    store: EventStore, timeline: TimelineStore,
) -> None:
    events = history()
    store.append(events[:20])
    projector = TimelineProjector(store, timeline, every=3)
    projector.catch_up()
    store.append(events[20:])  # the timeline lags behind these: read from the store
    head = store.max_position()

    for position in range(1, head + 1):
        for account in ("acc-1", "acc-2"):
            expected = brute_force(store, account, position)
            assert state_at(store, timeline, account, position) == expected, (account, position)

    projector.catch_up()
    restarted = TimelineProjector(store, timeline, every=3)  # a restart: nothing in memory
    store.append([make_trade_executed(event_id="late", signal_id="late", **at(40),
                                      fill=make_fill(client_order_id="late", side="sell"))])
    restarted.catch_up()
    for account in ("acc-1", "acc-2"):
        for position in range(1, store.max_position() + 1):
            assert state_at(store, timeline, account, position) == \
                brute_force(store, account, position), (account, position)


def test_the_present_equals_the_live_account_projection(
    store: EventStore, timeline: TimelineStore,
) -> None:
    store.append(history())
    TimelineProjector(store, timeline, every=4).catch_up()
    views, _, _ = rebuild_accounts(store)

    for account in ("acc-1", "acc-2"):
        state = state_at(store, timeline, account, store.max_position())
        assert state is not None
        assert state.view == views[account]


def test_what_an_auditor_sees_before_and_after(store: EventStore,
                                               timeline: TimelineStore) -> None:
    store.append(history(trades=3))
    TimelineProjector(store, timeline, every=2).catch_up()

    opened = position_at_time(store, timeline, "acc-1", instant(NOW + timedelta(seconds=30)))
    assert opened is not None
    first = state_at(store, timeline, "acc-1", opened)
    assert first is not None
    body = to_api(first, "t")
    assert (body["cash"], body["positions"], body["open_orders"]) == ("100000", [], [])
    assert body["settings"]["alpaca"] == {"api_key": "********", "secret_key": "********",
                                          "paper": True}
    assert body["paused"] is False

    # After the second trade (minute 3): 4 AAPL bought at 100 and 101, fees 1.
    two = position_at_time(store, timeline, "acc-1", instant(NOW + timedelta(minutes=3)))
    assert two is not None
    state = state_at(store, timeline, "acc-1", two)
    assert state is not None
    body = to_api(state, "t")
    assert D(body["cash"]) == D(100_000) - D(200) - D(202) - D(1)
    assert [(p["symbol"], D(p["quantity"]), D(p["average_price"]))
            for p in body["positions"]] == [("AAPL", D(4), D("100.5"))]

    # Minute 31: both limit orders rest; minute 35: one filled, one cancelled, paused.
    resting = state_at(store, timeline, "acc-1",
                       position_at_time(store, timeline, "acc-1",
                                        instant(NOW + timedelta(minutes=31, seconds=5))) or 0)
    assert resting is not None
    assert sorted(resting.open_orders) == ["limit-1", "limit-2"]
    assert resting.settings["risk"] == {"max_open_positions": 3}
    last = state_at(store, timeline, "acc-1", store.max_position())
    assert last is not None
    assert last.open_orders == {}
    assert last.settings["risk"] == {"max_open_positions": 5}
    assert to_api(last, "t")["paused"] is True

    assert position_at_time(store, timeline, "acc-1", instant(NOW - timedelta(days=1))) is None


def test_cli_account_at(url: str, store: EventStore, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRADEHOOKS_DATABASE_URL", url)
    store.append(history(trades=3))

    assert main(["account-at", "acc-1", "2024-05-01T14:32:30Z"]) == 0  # after 1 trade
    body = json.loads(capsys.readouterr().out)
    assert (body["account_id"], body["fills"], D(body["cash"])) == ("acc-1", 1, D("99799.5"))
    assert body["as_of"]["requested"] == "2024-05-01T14:32:30Z"

    assert main(["account-at", "acc-1", "2024-05-01 14:32:30"]) == 0  # naive = UTC
    assert json.loads(capsys.readouterr().out)["fills"] == 1
    assert main(["account-at", "acc-1", str(store.max_position())]) == 0
    assert json.loads(capsys.readouterr().out)["fills"] == 4
    assert main(["account-at", "acc-1", "2020-01-01T00:00:00Z"]) == 1
    assert main(["account-at", "acc-1", "last tuesday"]) == 2


def test_a_strategy_s_settings_as_they_were(url: str, store: EventStore,
                                            timeline: TimelineStore,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    record = {"id": "strat-1", "tenant_id": "acme", "sizing_mode": "auto",
              "secret": "sealed:v1:x", "previous_secret": ""}
    store.append([
        make_strategy_registered(event_id="reg", strategy_id="strat-1", record=record,
                                 **at(0)),
        StrategyUpdated(event_id="upd", signal_id="", tenant_id="acme", strategy_id="strat-1",
                        changes={"sizing_mode": "fixed_quantity"},
                        record={**record, "sizing_mode": "fixed_quantity"}, **at(10)),  # type: ignore[arg-type]
    ])
    TimelineProjector(store, timeline).catch_up()
    store.append([StrategyUpdated(
        event_id="upd2", signal_id="", tenant_id="acme", strategy_id="strat-1",
        changes={"sizing_mode": "notional"}, record={**record, "sizing_mode": "notional"},
        **at(20))])  # type: ignore[arg-type]  # not indexed yet: read from the store

    def settings(moment: str) -> dict[str, Any] | None:
        body = strategy_as_of(store, timeline, "strat-1", parse_moment(moment), moment)
        return body["settings"] if body else None

    assert settings("2024-05-01T14:29:00Z") is None
    assert settings("2024-05-01T14:35:00Z") == {**record, "secret": "********",
                                                "previous_secret": ""}
    assert settings("2024-05-01T14:45:00Z")["sizing_mode"] == "fixed_quantity"  # type: ignore[index]
    assert settings("2024-05-01T15:00:00Z")["sizing_mode"] == "notional"  # type: ignore[index]
    assert settings("2") == settings("2024-05-01T14:35:00Z")  # by store position

    monkeypatch.setenv("TRADEHOOKS_DATABASE_URL", url)
    assert main(["strategy-at", "strat-1", "2024-05-01T14:45:00Z"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["sizing_mode"] == "fixed_quantity"
    assert main(["strategy-at", "nope", "2024-05-01T14:45:00Z"]) == 1


def test_a_timeline_of_an_older_version_is_rebuilt(url: str, store: EventStore) -> None:
    store.append(history(trades=3))
    first = open_timeline(parse_store_url(url))
    TimelineProjector(store, first).catch_up()
    expected = state_at(store, first, "acc-1", store.max_position())
    # What version 1 left: an index and a position, no version row.
    first.conn.execute(first._sql("DELETE FROM {p}th_timeline_position WHERE id = 0"))
    first.close()

    reopened = open_timeline(parse_store_url(url))
    try:
        assert reopened.position() == 0  # cleared: the next catch-up rebuilds it
        assert reopened.positions("acc-1", 0, store.max_position()) == []
        TimelineProjector(store, reopened).catch_up()
        assert state_at(store, reopened, "acc-1", store.max_position()) == expected
    finally:
        reopened.close()


def test_a_second_reader_of_a_fresh_timeline_keeps_what_the_auditor_indexed(
        url: str, store: EventStore) -> None:
    """The auditor creates and indexes a fresh timeline; the operator API opens it
    later: the index stays (it used to be taken for an old version's and cleared
    under the auditor, which went on from its position: as_of lost those events)."""
    store.append(history(trades=3))
    auditor = open_timeline(parse_store_url(url))
    projector = TimelineProjector(store, auditor)
    projector.catch_up()
    indexed = auditor.positions("acc-1", 0, store.max_position())
    api = open_timeline(parse_store_url(url))
    try:
        assert api.position() == store.max_position()
        assert api.positions("acc-1", 0, store.max_position()) == indexed != []
        store.append(history(trades=4)[-2:])  # more, while both are open
        projector.catch_up()
        assert state_at(store, api, "acc-1", store.max_position()) == \
            state_at(store, auditor, "acc-1", store.max_position())
    finally:
        api.close()
        auditor.close()


def test_the_timeline_reconnects_after_its_database_cut_it_off(
    url: str, store: EventStore, timeline: TimelineStore,
) -> None:
    if parse_store_url(url).kind == "sqlite":
        pytest.skip("a SQLite file has no server to cut the connection")
    store.append(history(trades=2))
    TimelineProjector(store, timeline).catch_up()
    position = timeline.position()
    import psycopg
    from harness import POSTGRES_URL

    pid = timeline.conn.info.backend_pid
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(psycopg.OperationalError):
        timeline.position()  # the cut is noticed on the next use...

    assert timeline.position() == position  # ...and the one after reconnects
    assert timeline.conn.info.backend_pid != pid
