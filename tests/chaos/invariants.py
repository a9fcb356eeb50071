"""What must hold after any fault run. Written once, checked by every fault test.

1. Answers: every alert was finally answered 2xx with one signal id; every other
   answer was a 503 with Retry-After; no answer took 3 s or more (TradingView
   cancels then); a resend of an accepted alert is a 200 duplicate.
2. Terminals: every signal answered 2xx has exactly one terminal event
   (``webhook.trade_executed`` or ``webhook.failed``), and nothing was received
   that the sender was not told about.
3. Orders: no signal yields two orders; no ``client_order_id`` reaches a broker
   twice; what the broker holds is exactly what the events say was executed.
4. Store: every event on the stream (dead letters aside; market prices live in
   another stream) is in the event store exactly once.
5. Projections: a fresh rebuild from the store equals the live projection.

Waits poll a condition or await events with a deadline; nothing sleeps to sync.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import msgspec
from chaos.load import Alert, Attempt
from fakes.alpaca_server import FakeAlpaca
from harness import (
    EventTap,
    System,
    Tenancy,
    paper_orders,
    run_replay,
    stored_event_ids,
    wait_until,
)

from contracts import streams
from contracts.events import (
    AnyEvent,
    OrderRequested,
    TradeExecuted,
    WebhookReceived,
    decode_event,
    event_type,
)
from projections.accounts import AccountView
from projections.ledger import Book, Position
from projections.projector import rebuild_accounts
from projections.store import open_store
from services.brokers.paper import PaperAccount
from services.runtime.bus import Bus

HANG_LIMIT_S = 3.0  # TradingView cancels a webhook request after 3 s
TERMINAL = ("webhook.trade_executed", "webhook.failed")
CLOSING_SUFFIX = "-close"  # the Alpaca adapter's first half of a flip
_paper_state = msgspec.json.Decoder(PaperAccount)


@dataclass
class RunReport:
    """What a run did, for the test's own assertions and its printed summary."""

    alerts: int
    accepted: int
    attempts: int
    refused_503: int
    unanswered: int
    max_answer_s: float
    stream_events: int
    executed: int
    failed: int
    events: list[AnyEvent] = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        return (f"{self.alerts} alerts, {self.attempts} attempts ({self.refused_503} x 503, "
                f"{self.unanswered} unanswered), slowest answer {self.max_answer_s:.2f} s; "
                f"{self.stream_events} events; {self.executed} executed, "
                f"{self.failed} failed")


# -- 1. answers -----------------------------------------------------------------


def check_answers(alerts: list[Alert], allow_unanswered: bool = False) -> dict[str, Alert]:
    """Invariant 1 on the sender's records; returns the alerts by signal id.

    ``allow_unanswered``: attempts without any HTTP answer (connection refused or
    dropped) are expected only while ingress itself is down.
    """
    by_signal: dict[str, Alert] = {}
    for alert in alerts:
        where = f"alert {alert.index} ({alert.webhook_id})"
        for attempt in alert.attempts:
            assert attempt.elapsed_s < HANG_LIMIT_S, \
                f"{where}: an answer took {attempt.elapsed_s:.2f} s: {attempt}"
            if attempt.status is None:
                assert allow_unanswered, f"{where}: no HTTP answer: {attempt.error}"
            elif not 200 <= attempt.status < 300:
                assert_retryable_refusal(attempt, where)
        answered = alert.answers_2xx
        assert answered, f"{where} was never accepted: {alert.attempts}"
        ids = {a.signal_id for a in answered}
        assert len(ids) == 1 and None not in ids, f"{where}: 2xx answers disagree: {answered}"
        accepted = [a for a in answered if a.status == 202]
        assert len(accepted) <= 1, f"{where} was accepted twice: {answered}"
        signal_id = answered[0].signal_id
        assert signal_id is not None
        assert signal_id not in by_signal, \
            f"{where} got the signal id of alert {by_signal[signal_id].index}"
        by_signal[signal_id] = alert
    return by_signal


def assert_retryable_refusal(attempt: Attempt, where: str) -> None:
    """A refused request must be a 503 the sender can retry, with Retry-After."""
    assert attempt.status == 503, f"{where}: answered {attempt.status} ({attempt.error})"
    assert attempt.error == "unavailable", f"{where}: 503 with error {attempt.error!r}"
    assert attempt.retry_after is not None and attempt.retry_after.isdigit(), \
        f"{where}: 503 without a usable Retry-After: {attempt.retry_after!r}"


def assert_duplicates(alerts: list[Alert], resent: list[Attempt]) -> None:
    """A resend of an accepted alert is a 200 duplicate of the same signal."""
    for alert, attempt in zip(alerts, resent, strict=True):
        assert attempt.status == 200, f"resend of alert {alert.index}: {attempt}"
        assert attempt.signal_id == alert.signal_id, f"resend of alert {alert.index}: {attempt}"
        assert attempt.elapsed_s < HANG_LIMIT_S, f"resend of alert {alert.index}: {attempt}"


# -- waiting for the system to settle ----------------------------------------------


async def wait_terminals(tap: EventTap, signal_ids: Iterable[str],
                         timeout: float = 60.0) -> None:
    """Until every signal has a terminal event on the stream."""
    wanted = set(signal_ids)

    def missing(events: list[AnyEvent]) -> set[str]:
        return wanted - {e.signal_id for e in events if event_type(e) in TERMINAL}

    try:
        await tap.wait_for(lambda events: not missing(events), timeout)
    except AssertionError:
        lost = sorted(missing(tap.events))
        raise AssertionError(f"{len(lost)} accepted signal(s) never ended, e.g. "
                             f"{lost[:5]}") from None


async def wait_quiet(bus: Bus, timeout: float = 45.0) -> None:
    """Until no durable consumer of the stream has a message pending or unacked:
    nothing is left to redeliver, so the stream holds the run's final events."""
    async def quiet() -> bool:
        try:
            consumers = await bus.js.consumers_info(streams.STREAM)
        except Exception:  # NATS still reconnecting: not quiet yet
            return False
        return all(c.num_pending == 0 and c.num_ack_pending == 0 for c in consumers
                   if c.config.durable_name)

    await wait_until(quiet, timeout, interval=0.2, message="every consumer to be idle")


async def stream_events(bus: Bus, timeout: float = 30.0) -> list[tuple[str, AnyEvent]]:
    """Every audited event on the stream, with its subject, in stream order.

    Read through a fresh ordered consumer from the first message, so it holds
    across server restarts. Dead letters are not events and are left out.
    """
    info = await bus.js.stream_info(streams.STREAM)
    tap = EventTap(bus)
    await tap.start()
    try:
        await wait_until(lambda: len(tap.raw) >= info.state.messages, timeout,
                         message=f"the tap to read {info.state.messages} stream messages")
    finally:
        await tap.stop()
    return [(subject, decode_event(data)) for subject, data in tap.raw
            if not subject.startswith("deadletter.")]


# -- 2. and 3. terminals and orders, from the stream -----------------------------------


def check_terminals(events: list[AnyEvent], accepted: dict[str, Alert]) -> tuple[int, int]:
    """Invariant 2; returns (executed, failed) counts."""
    received = Counter(e.signal_id for e in events if isinstance(e, WebhookReceived))
    twice = [s for s, n in received.items() if n > 1]
    assert not twice, f"webhook.received stored twice for {twice[:5]}"
    unknown = set(received) - set(accepted)
    assert not unknown, f"{len(unknown)} signal(s) received but never answered 2xx: " \
                        f"{sorted(unknown)[:5]}"
    terminals: dict[str, list[AnyEvent]] = {}
    for event in events:
        if event_type(event) in TERMINAL:
            terminals.setdefault(event.signal_id, []).append(event)
    for signal_id, alert in accepted.items():
        ends = terminals.get(signal_id, [])
        assert len(ends) == 1, f"alert {alert.index} (signal {signal_id}) ended {ends}"
    kinds = Counter(event_type(end) for ends in terminals.values() for end in ends)
    return kinds["webhook.trade_executed"], kinds["webhook.failed"]


def check_one_order_per_signal(events: list[AnyEvent]) -> None:
    """Invariant 3 on the stream: one order request and one fill per signal at most."""
    requested: dict[str, set[str]] = {}
    count: Counter[str] = Counter()
    for event in events:
        if isinstance(event, OrderRequested) and not event.order.leg:
            requested.setdefault(event.signal_id, set()).add(event.order.client_order_id)
            count[event.signal_id] += 1
    several = {s: ids for s, ids in requested.items() if len(ids) > 1 or count[s] > 1}
    assert not several, f"signals with several orders: {list(several.items())[:3]}"
    fills = Counter(e.fill.client_order_id for e in events if isinstance(e, TradeExecuted))
    twice = [c for c, n in fills.items() if n > 1]
    assert not twice, f"client_order_id(s) executed twice: {twice[:5]}"


# -- 3. brokers -------------------------------------------------------------------------


def executed_ids(events: list[AnyEvent], account_ids: set[str]) -> set[str]:
    """Client order ids of the fills the events report for ``account_ids``."""
    return {e.fill.client_order_id for e in events
            if isinstance(e, TradeExecuted) and e.account_id in account_ids}


async def paper_books(bus: Bus, system: System, tenancies: Sequence[Tenancy]
                      ) -> list[tuple[str, PaperAccount, Book]]:
    """Per paper account: the simulator's state, and the book the store rebuilds."""
    kv = await bus.kv(streams.BUCKET_PAPER)
    views = await asyncio.to_thread(_rebuilt_views, system)
    out = []
    for tenancy in tenancies:
        entry = await kv.get(tenancy.account.id)
        state = _paper_state.decode(entry.value or b"")
        # Older closed orders live under keys of their own: count them too.
        state.orders = await paper_orders(bus, tenancy.account.id)
        out.append((tenancy.account.id, state, views[tenancy.account.id].book))
    return out


async def check_paper_accounts(bus: Bus, system: System, tenancies: Sequence[Tenancy],
                               events: list[AnyEvent]) -> None:
    """The simulator's state equals what the stored events say, account by account:
    the same orders filled (each once), the same cash, fees, fill count and
    position sizes. (Realised P&L and average prices also depend on the order of
    the fills: see :func:`check_fill_order`.)"""
    for account_id, state, view in await paper_books(bus, system, tenancies):
        filled = {c for c, o in state.orders.items() if o.status == "filled" and not o.leg}
        reported = executed_ids(events, {account_id})
        assert filled == reported, (
            f"paper {account_id}: filled at the broker but not executed: "
            f"{sorted(filled - reported)[:3]}; executed but not filled: "
            f"{sorted(reported - filled)[:3]}")
        ours = (view.cash, view.fills, view.fees_paid)
        theirs = (state.book.cash, state.book.fills, state.book.fees_paid)
        assert ours == theirs, \
            f"paper {account_id}: the store's account differs from the broker's: {ours} != {theirs}"
        assert _sizes(view.positions) == _sizes(state.book.positions), \
            f"paper {account_id}: position sizes differ"


async def check_fill_order(bus: Bus, system: System, tenancies: Sequence[Tenancy],
                           events: list[AnyEvent]) -> None:
    """One account's fills reach the stream in the order the broker made them, so
    the store folds them into the same realised P&L and average prices."""
    for account_id, state, view in await paper_books(bus, system, tenancies):
        on_stream = [e.fill for e in events
                     if isinstance(e, TradeExecuted) and e.account_id == account_id]
        overtaken = [(a.client_order_id, b.client_order_id)
                     for a, b in itertools.pairwise(on_stream)
                     if b.filled_at < a.filled_at]
        assert not overtaken, f"paper {account_id}: fills published out of broker order " \
                              f"(later, earlier): {overtaken[:3]}"
        book = state.book
        assert (view.realised_pnl, _positions(view.positions)) == \
            (book.realised_pnl, _positions(book.positions)), \
            f"paper {account_id}: realised P&L or average prices differ from the broker's"


def _sizes(positions: dict[str, Position]) -> dict[str, object]:
    return {s: p.quantity for s, p in positions.items() if p.quantity != 0}


def _positions(positions: dict[str, Position]) -> dict[str, tuple[object, object]]:
    return {s: (p.quantity, p.average_price) for s, p in positions.items() if p.quantity != 0}


def check_alpaca_orders(fake: FakeAlpaca, tenancies: Sequence[Tenancy],
                        events: list[AnyEvent]) -> None:
    """No client order id reached the fake Alpaca's order book twice, and its orders
    are exactly the executed ones (an order it holds never ended in a failure)."""
    slugs = tuple(f"{t.strategy.slug}-" for t in tenancies)
    posted = Counter(body.get("client_order_id", "") for body in fake.order_requests)
    twice = [c for c, n in posted.items() if n > 1]
    assert not twice, f"client_order_id(s) posted to Alpaca twice: {twice[:5]}"
    created = [c for c in fake.submitted_client_order_ids if c.startswith(slugs)]
    assert len(created) == len(set(created)), "Alpaca created an order id twice"
    held = {c.removesuffix(CLOSING_SUFFIX) for c in created}
    reported = executed_ids(events, {t.account.id for t in tenancies})
    assert held == reported, (
        f"alpaca: orders at the broker without a fill event: {sorted(held - reported)[:3]}; "
        f"fill events without an order: {sorted(reported - held)[:3]}")
    for client_order_id in reported:
        order = fake.order_by_client_id(client_order_id)
        assert order is not None and order["status"] == "filled", order


# -- 4. and 5. store and projections ------------------------------------------------------


def _rebuilt_views(system: System) -> dict[str, AccountView]:
    store = open_store(system.store_url)
    try:
        views, _, _ = rebuild_accounts(store)
    finally:
        store.close()
    return dict(views)


async def check_store(system: System, events: list[AnyEvent], timeout: float = 45.0) -> None:
    """Invariant 4: the store holds every stream event exactly once, and nothing else."""
    on_stream = Counter(e.event_id for e in events)
    twice = [i for i, n in on_stream.items() if n > 1]
    assert not twice, f"event id(s) on the stream twice: {twice[:5]}"

    async def all_stored() -> list[str] | None:
        ids = await asyncio.to_thread(stored_event_ids, system)
        return ids if set(on_stream) <= set(ids) else None

    try:
        stored = await wait_until(all_stored, timeout, interval=0.5,
                                  message="the auditor to store every stream event")
    except AssertionError:
        ids = set(await asyncio.to_thread(stored_event_ids, system))
        lost = [e for e in events if e.event_id not in ids]
        raise AssertionError(f"{len(lost)} stream event(s) never stored, e.g. "
                             f"{[(event_type(e), e.signal_id) for e in lost[:5]]}") from None
    counted = Counter(stored)
    assert counted == on_stream, (
        f"stored twice: {[i for i, n in counted.items() if n > 1][:5]}; "
        f"stored but not on the stream: {sorted(set(counted) - set(on_stream))[:5]}")


async def check_replay(system: System) -> None:
    """Invariant 5: stop the auditor (nothing moves) and rebuild from the store."""
    assert system.terminate("auditor") == 0
    output = await run_replay(system)
    assert "identical to the live projection: yes" in output, output


# -- all of it --------------------------------------------------------------------------------


async def verify_run(system: System, bus: Bus, alerts: list[Alert], *,
                     paper: Sequence[Tenancy] = (), alpaca: FakeAlpaca | None = None,
                     alpaca_tenancies: Sequence[Tenancy] = (),
                     allow_unanswered: bool = False) -> RunReport:
    """Every invariant, in the order that lets each wait for what it needs."""
    accepted = check_answers(alerts, allow_unanswered)
    tap = EventTap(bus)
    await tap.start()
    try:
        await wait_terminals(tap, accepted)
    finally:
        await tap.stop()
    await wait_quiet(bus)
    events = [event for _, event in await stream_events(bus)]
    executed, failed = check_terminals(events, accepted)
    check_one_order_per_signal(events)
    await check_store(system, events)
    if paper:
        await check_paper_accounts(bus, system, paper, events)
    if alpaca is not None:
        check_alpaca_orders(alpaca, alpaca_tenancies, events)
    await check_replay(system)
    attempts = [a for alert in alerts for a in alert.attempts]
    return RunReport(
        alerts=len(alerts), accepted=len(accepted), attempts=len(attempts),
        refused_503=sum(1 for a in attempts if a.status == 503),
        unanswered=sum(1 for a in attempts if a.status is None),
        max_answer_s=max(a.elapsed_s for a in attempts), stream_events=len(events),
        executed=executed, failed=failed, events=events,
    )
