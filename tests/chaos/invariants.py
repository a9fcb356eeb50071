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
6. Legs: no resting leg could add exposure, every leg fill reduced the position, and
   the broker's legs are the leg events' legs (each fill and cancel reported once).
7. Failures: every failed signal is one the load explains (an exit with no position
   left, a signal of an account its breaker paused); no entry fails otherwise.

Waits poll a condition or await events with a deadline; nothing sleeps to sync.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import msgspec
from chaos.load import Alert, Attempt, MovingPrices
from fakes.alpaca_server import FakeAlpaca
from harness import (
    EventTap,
    System,
    Tenancy,
    paper_orders,
    paper_positions,
    run_replay,
    stored_event_ids,
    wait_until,
)

from contracts import streams
from contracts.events import (
    AnyEvent,
    BreakerTripped,
    LegCanceled,
    LegFilled,
    LegResized,
    OrderPlaced,
    OrderRequested,
    TradeExecuted,
    WebhookFailed,
    WebhookReceived,
    decode_event,
    event_type,
)
from contracts.orders import BrokerOrder
from domain.ledger import Book, Position
from domain.protection import violations
from libs.brokers.paper import PaperAccount
from libs.runtime.bus import Bus
from projections.accounts import AccountView
from projections.projector import rebuild_accounts
from projections.store import open_store

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
    failures: dict[str, int] = field(default_factory=dict)
    legs: int = 0
    leg_fills: int = 0
    trips: int = 0
    events: list[AnyEvent] = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        return (f"{self.alerts} alerts, {self.attempts} attempts ({self.refused_503} x 503, "
                f"{self.unanswered} unanswered), slowest answer {self.max_answer_s:.2f} s; "
                f"{self.stream_events} events; {self.executed} executed, "
                f"{self.failed} failed {self.failures}; {self.legs} legs "
                f"({self.leg_fills} filled); {self.trips} breaker trip(s)")


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
        ours = (view.realised_pnl, _positions(view.positions))
        theirs = (book.realised_pnl, _positions(book.positions))
        assert ours == theirs, f"paper {account_id}: realised P&L or average prices differ " \
                               f"from the broker's: {ours} != {theirs}"


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


# -- 6. protective legs ---------------------------------------------------------------


def _leg_mismatches(orders: dict[str, BrokerOrder], events: list[AnyEvent],
                    account_id: str) -> list[str]:
    """How the broker's legs and the leg events of one account disagree."""
    ours = [e for e in events if getattr(e, "account_id", None) == account_id]
    filled_events = Counter(e.order.client_order_id for e in ours if isinstance(e, LegFilled))
    canceled_events = {e.order.client_order_id for e in ours
                       if isinstance(e, LegCanceled) and e.order.status == "canceled"}
    # A leg larger than the position when placed is shrunk at once: its report is
    # order.leg_resized instead of order.placed.
    placed = {e.order.client_order_id for e in ours if isinstance(e, OrderPlaced | LegResized)}
    legs = {c: o for c, o in orders.items() if o.leg}
    filled = {c for c, o in legs.items() if o.status == "filled"}
    canceled = {c for c, o in legs.items() if o.status == "canceled"}
    problems = []
    if filled != set(filled_events):
        problems.append(f"legs filled at the broker {sorted(filled - set(filled_events))[:3]} "
                        f"/ in events only {sorted(set(filled_events) - filled)[:3]}")
    if twice := [c for c, n in filled_events.items() if n > 1]:
        problems.append(f"legs reported filled twice: {twice[:3]}")
    if canceled != canceled_events:
        problems.append(f"legs cancelled at the broker {sorted(canceled - canceled_events)[:3]}"
                        f" / in events only {sorted(canceled_events - canceled)[:3]}")
    # (A leg the market had already crossed fills, or is cancelled, when placed: then
    # its fill or cancel is its only report.)
    if unplaced := sorted(c for c, o in legs.items() if o.status == "open" and c not in placed):
        problems.append(f"legs resting at the broker never reported placed: {unplaced[:3]}")
    return problems


async def check_legs(bus: Bus, tenancies: Sequence[Tenancy], timeout: float = 30.0) -> int:
    """Invariant 6, per paper account: no resting leg could add exposure (each sits on
    the closing side of the position, at most its size, one entry's legs only); every
    leg fill reduced the position without crossing zero; and the broker's legs are the
    events' legs, each filled or cancelled leg reported exactly once (the executor's
    order sync may report the last ones a moment after the load: waited for).
    Returns how many legs the accounts held."""
    mismatches: dict[str, list[str]] = {}

    async def reported() -> bool:
        events = [event for _, event in await stream_events(bus)]
        mismatches.clear()
        for t in tenancies:
            found = _leg_mismatches(await paper_orders(bus, t.account.id), events,
                                    t.account.id)
            if found:
                mismatches[t.account.id] = found
        return not mismatches

    try:
        await wait_until(reported, timeout, interval=0.5, message="every leg reported")
    except AssertionError:
        raise AssertionError(f"broker legs and leg events disagree: {mismatches}") from None
    events = [event for _, event in await stream_events(bus)]
    legs = 0
    for t in tenancies:
        orders = await paper_orders(bus, t.account.id)
        legs += sum(1 for o in orders.values() if o.leg)
        positions = await paper_positions(bus, t.account.id)
        harmful = violations(positions, list(orders.values()))
        assert not harmful, f"paper {t.account.id}: resting legs could add exposure: " \
                            f"{[(o.client_order_id, fix.reason) for o, fix in harmful][:3]}"
    for event in events:
        if isinstance(event, LegFilled):
            fill = event.fill
            after = fill.position_quantity
            before = after + (fill.quantity if fill.side == "sell" else -fill.quantity)
            assert before != 0 and abs(after) < abs(before) and after * before >= 0, \
                f"leg {fill.client_order_id} took the position from {before} to {after}"
    return legs


# -- 7. failures ---------------------------------------------------------------------------


def check_failures(events: list[AnyEvent], accepted: dict[str, Alert]) -> Counter[str]:
    """Every signal that failed is one the load explains, exactly: an exit that found
    no position (an earlier exit or a leg closed it), or a signal of an account its
    breaker paused. No entry fails for any other reason, whatever the faults.
    Returns the failures by code."""
    tripped = {e.account_id for e in events if isinstance(e, BreakerTripped) and e.paused}
    codes: Counter[str] = Counter()
    unexplained = []
    for event in events:
        if not isinstance(event, WebhookFailed) or event.signal_id not in accepted:
            continue
        alert = accepted[event.signal_id]
        codes[event.code] += 1
        if event.code == "no_position" and alert.is_exit:
            continue
        if event.code == "paused" and alert.tenancy.account.id in tripped:
            continue
        unexplained.append((alert.index, "exit" if alert.is_exit else "entry", event.stage,
                            event.code, event.reason))
    assert not unexplained, f"{len(unexplained)} failure(s) the load does not explain: " \
                            f"{unexplained[:5]}"
    return codes


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
    legs = 0
    if paper:
        legs = await check_legs(bus, paper)
        await wait_quiet(bus)  # the last leg reports are stored too
    events = [event for _, event in await stream_events(bus)]
    executed, failed = check_terminals(events, accepted)
    failures = check_failures(events, accepted)
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
        executed=executed, failed=failed, failures=dict(failures), legs=legs,
        leg_fills=sum(1 for e in events if isinstance(e, LegFilled)),
        trips=sum(1 for e in events if isinstance(e, BreakerTripped)), events=events,
    )


def assert_mixed_load_happened(prices: MovingPrices, report: RunReport) -> None:
    """What a mixed load must have met, or its invariants proved little: legs that
    filled, and the one stop-loss trip of the breaker account (when it has one)."""
    assert report.leg_fills > 0, f"no leg ever filled: {prices}; {report}"
    if prices.crash is None:
        assert report.trips == 0, report
        return
    assert prices.crash.at_s is not None, f"the breaker account never held enough: {prices}"
    assert report.trips == 1, f"{report.trips} breaker trips: {prices}; {report}"
