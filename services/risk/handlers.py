"""Risk: ``webhook.validated`` → ``order.requested`` or ``webhook.failed``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from contracts import streams
from contracts.events import (
    OrderPartiallyFilled,
    OrderRequested,
    TradeExecuted,
    WebhookFailed,
    WebhookValidated,
)
from contracts.orders import OrderRequest
from libs.brokers.base import AccountSnapshot, BrokerRejected
from libs.brokers.capabilities import Capabilities, capabilities_for
from libs.brokers.factory import Brokers
from libs.registry.models import Account, Strategy
from libs.registry.store import Registry
from libs.runtime.clock import Clock
from libs.runtime.consumer import Outgoing
from libs.runtime.dispatch import HandlerTable
from libs.runtime.failures import failure
from libs.runtime.ids import derived_event_id
from services.risk.dry_run import dry_run_outcome, would_order
from services.risk.ledger import (
    Decision,
    Refusal,
    Reservation,
    RiskDecisions,
    RiskLedger,
    RiskLedgers,
)
from services.risk.limits import Exposure, check_limits, order_notional, trading_day
from services.risk.rules import RiskRefusal, client_order_id, decide_order, route_gate


class RiskService:
    """Sizes validated signals against the account and applies the limits."""

    def __init__(self, registry: Registry, brokers: Brokers, ledgers: RiskLedgers,
                 decisions: RiskDecisions, clock: Clock) -> None:
        self.registry = registry
        self.brokers = brokers
        self.ledgers = ledgers
        self.decisions = decisions
        self.clock = clock
        # What risk consumes: streams.RISK (decide) and streams.RISK_RELEASE (release).
        self.handle = HandlerTable({WebhookValidated: self.decide})
        self.release = HandlerTable({TradeExecuted: self.free, WebhookFailed: self.free,
                                     OrderPartiallyFilled: self.partly_filled})

    async def decide(self, event: WebhookValidated) -> list[Outgoing]:
        """Size a validated signal and apply the limits: an order request, or why not."""
        strategy = await self.registry.strategy(event.strategy_id)
        account = await self.registry.account(event.account_id)
        if strategy is None or account is None:
            return [failure(event, "risk", "unknown_route",
                            "strategy or account was removed", self.clock)]
        received_at = event.signal.alert_time or event.occurred_at
        coid = client_order_id(strategy, event.signal_id, received_at)
        gate = await self._gate(event, strategy, account)
        if gate is not None and event.dry_run:  # nothing remembered for a dry run
            return [dry_run_outcome(event, account, gate, self.clock)]
        if gate is not None:
            return await self._gated(event, coid, gate)
        # The account's snapshot and the signal's earlier answer (if it had one) in
        # one round trip: both reads leave together.
        decided = asyncio.ensure_future(self.decisions.get(coid))
        try:
            snapshot = await self.brokers.reader_for(account).snapshot(account)
        except BrokerRejected as exc:
            await asyncio.gather(decided, return_exceptions=True)
            return [failure(event, "risk", exc.code, exc.reason, self.clock)]
        except BaseException:
            await asyncio.gather(decided, return_exceptions=True)
            raise
        symbol = event.signal.symbol
        if symbol and event.signal.price is None:
            # The market's last price (a tick, another alert) sizes a price-less alert.
            market = await self.brokers.market_price(symbol)
            if market is not None:
                snapshot = msgspec.structs.replace(
                    snapshot, last_prices={**snapshot.last_prices, symbol: market})
        if event.dry_run:
            await asyncio.gather(decided, return_exceptions=True)
            ledger, _ = await self.ledgers.load(event.account_id)
            would = would_order(event, strategy, snapshot, ledger, coid, self.clock,
                                capabilities_for(account))
            return [dry_run_outcome(event, account, would, self.clock)]
        decision = await self._decide(event, strategy, snapshot, coid, await decided,
                                      capabilities_for(account))
        if decision is None:
            return []  # decided and ended before: its order.requested went out then
        if isinstance(decision, Refusal):
            return [self._refused(event, decision)]
        return [self._requested(event, decision)]

    async def decide_many(self, events: Sequence[Any]) -> list[list[Outgoing]]:
        """Decide signals in order, each answered as :meth:`decide` answers it.

        Runs of new signals of one account that simply order are decided together:
        one snapshot of the account, their earlier answers read at once, one
        compare-and-set write reserving all their orders, their answers remembered
        at once. Anything else in a run (a redelivery, a refusal, a dry run, a
        price-less alert, a gated route) sends the run through :meth:`decide` one
        signal at a time, so every such answer keeps its one careful path. Other
        events are answered with nothing, as by :attr:`handle`.
        """
        out: list[list[Outgoing]] = []
        run: list[_Planned] = []
        for event in events:
            planned = await self._plan(event) if isinstance(event, WebhookValidated) else None
            if run and (planned is None or planned.account.id != run[0].account.id):
                out += await self._decide_run(run)
                run = []
            if planned is not None:
                run.append(planned)
            else:
                out.append(list(await self.handle(event)))
        return out + await self._decide_run(run)

    async def _plan(self, event: WebhookValidated) -> _Planned | None:
        """What a signal that may be decided in a run needs; None if it may not."""
        if event.dry_run or (event.signal.symbol and event.signal.price is None):
            return None
        strategy = await self.registry.strategy(event.strategy_id)
        account = await self.registry.account(event.account_id)
        if strategy is None or account is None or \
                await self._gate(event, strategy, account) is not None:
            return None
        received_at = event.signal.alert_time or event.occurred_at
        return _Planned(event, strategy, account,
                        client_order_id(strategy, event.signal_id, received_at))

    async def _decide_run(self, run: list[_Planned]) -> list[list[Outgoing]]:
        """Decide a run of one account's signals together (see :meth:`decide_many`)."""
        if len(run) < 2:
            return [await self.decide(planned.event) for planned in run]
        account = run[0].account
        # The account's snapshot and the signals' earlier answers in one round trip.
        earlier = asyncio.gather(*(self.decisions.get(p.coid) for p in run))
        try:
            snapshot = await self.brokers.reader_for(account).snapshot(account)
        except BrokerRejected:
            await asyncio.gather(earlier, return_exceptions=True)
            return [await self.decide(planned.event) for planned in run]  # each refused
        except BaseException:
            await asyncio.gather(earlier, return_exceptions=True)
            raise
        decided = await earlier
        if any(d is not None for d in decided):  # redeliveries: one at a time
            return [await self.decide(planned.event) for planned in run]
        fresh = False
        while True:
            ledger, revision = await self.ledgers.load(account.id, fresh)
            reserved: list[tuple[OrderRequest, Decimal]] = []
            for planned in run:
                ledger.roll(trading_day(self.clock.now(), planned.strategy.day_timezone),
                            snapshot.equity)
                answer = None if _answered(ledger, planned.coid, None) is not None else \
                    _reserve(planned.event, planned.strategy, snapshot, ledger, planned.coid,
                             capabilities_for(account))
                if not isinstance(answer, tuple):  # not a plain new order: one at a time
                    return [await self.decide(p.event) for p in run]
                reserved.append(answer)
            if await self.ledgers.save(account.id, ledger, revision):
                break
            fresh = True
        # Reserved first, remembered second (as in _decide).
        firsts = await asyncio.gather(*(self.decisions.remember(p.coid, Decision(ordered=True))
                                        for p in run))
        out: list[list[Outgoing]] = []
        for planned, (order, notional), first in zip(run, reserved, firsts, strict=True):
            if first.refusal is not None:  # refused concurrently elsewhere: that stands
                await self.ledgers.unreserve(account.id, planned.coid, notional)
                out.append([self._refused(planned.event, first.refusal)])
            else:
                out.append([self._requested(planned.event, order)])
        return out

    def _requested(self, event: WebhookValidated, order: OrderRequest) -> Outgoing:
        requested = OrderRequested(
            event_id=derived_event_id(event.signal_id, "order"), signal_id=event.signal_id,
            tenant_id=event.tenant_id, occurred_at=self.clock.now(),
            strategy_id=event.strategy_id, account_id=event.account_id, order=order,
        )
        return Outgoing(requested, streams.message_id(event.signal_id, "order"))

    async def _gated(self, event: WebhookValidated, coid: str,
                     gate: RiskRefusal) -> list[Outgoing]:
        """The route may not trade now. A signal decided before it was stopped (a
        redelivery after the breaker paused the account) keeps its first answer;
        else it is refused, and that is remembered."""
        first = await self._first_answer(event.account_id, coid)
        if first is None:
            refused = await self._refuse(coid, Refusal(
                code=gate.code, reason=gate.reason, details=gate.details))
            # None: ordered concurrently (another instance), answered by its order.
            first = refused or await self._first_answer(event.account_id, coid)
        if isinstance(first, Refusal):
            return [self._refused(event, first)]
        if isinstance(first, OrderRequest):
            return [self._requested(event, first)]
        return []  # its order went out and ended: nothing more to say

    async def _first_answer(self, account_id: str, coid: str
                            ) -> OrderRequest | Refusal | Ended | None:
        """What the signal was answered before: its order, still reserved; its
        refusal; ``ENDED`` when its order went out and ended; None if undecided."""
        ledger, _ = await self.ledgers.load(account_id)
        return _answered(ledger, coid, await self.decisions.get(coid))

    async def _refuse(self, coid: str, refusal: Refusal) -> Refusal | None:
        """Remember a refusal: the first answer remembered wins (a concurrent
        redelivery in another instance may have answered already); None when that
        answer was an order."""
        return (await self.decisions.remember(coid, Decision(refusal=refusal))).refusal

    async def _gate(self, event: WebhookValidated, strategy: Strategy,
                    account: Account) -> RiskRefusal | None:
        """Is the route allowed to trade at all right now?"""
        return route_gate(await self.registry.tenant(event.tenant_id), strategy, account)

    def _refused(self, event: WebhookValidated, refusal: Refusal) -> Outgoing:
        return failure(event, "risk", refusal.code, refusal.reason, self.clock,
                       refusal.details)

    async def _decide(self, event: WebhookValidated, strategy: Strategy,
                      snapshot: AccountSnapshot, coid: str, decided: Decision | None,
                      capabilities: Capabilities | None = None
                      ) -> OrderRequest | Refusal | None:
        """Decide against the broker's positions plus the orders decided but not yet
        filled (so an exit right behind its entry finds the position), check the
        limits and reserve the order — atomically, by compare-and-set on the ledger.

        A redelivered signal is not decided again: the position has moved since, by
        its own order perhaps, and an exit would now be refused although its order
        went out. It gets the answer it got then: its order while reserved (a repeat
        publish is dropped by its message id), its refusal, or None once the order's
        terminal event released the reservation. (``decided``: its remembered answer.)

        The ledger this process saw last is used first: a reservation is written by
        compare-and-set, which fails on a stale one. Any other answer is given only
        from a fresh read.
        """
        day = trading_day(self.clock.now(), strategy.day_timezone)
        fresh = False
        while True:
            ledger, revision = await self.ledgers.load(event.account_id, fresh)
            ledger.roll(day, snapshot.equity)
            first = _answered(ledger, coid, decided)
            if first is not None and not fresh:
                fresh = True
                continue
            if isinstance(first, Ended):
                return None
            if first is not None:
                if isinstance(first, OrderRequest):
                    # Reserved but perhaps never remembered (a crash in between).
                    await self.decisions.remember(coid, Decision(ordered=True))
                return first
            reserved = _reserve(event, strategy, snapshot, ledger, coid, capabilities)
            if isinstance(reserved, RiskRefusal):
                if not fresh:
                    fresh = True
                    continue
                # Remembered first-wins: a redelivery gets it again.
                refused = await self._refuse(coid, Refusal(
                    code=reserved.code, reason=reserved.reason, details=reserved.details))
                if refused is not None:
                    return refused
                decided = Decision(ordered=True)  # ordered concurrently: answer that
                continue
            order, notional = reserved
            if not await self.ledgers.save(event.account_id, ledger, revision):
                fresh = True
                continue
            # Reserved first, remembered second: a crash between them leaves the
            # reservation, which a redelivery finds (above) before deciding again.
            first_decision = await self.decisions.remember(coid, Decision(ordered=True))
            if first_decision.refusal is not None:
                # Refused concurrently (a redelivery in another instance): that answer
                # stands; the reservation made here goes.
                await self.ledgers.unreserve(event.account_id, coid, notional)
                return first_decision.refusal
            return order

    async def free(self, event: TradeExecuted | WebhookFailed) -> list[Outgoing]:
        """A terminal event frees the signal's reservation."""
        if event.account_id and not event.dry_run:  # a dry run reserved nothing
            await self.ledgers.release(event.account_id, event.signal_id)
        return []

    async def partly_filled(self, event: OrderPartiallyFilled) -> list[Outgoing]:
        """Part of a resting order filled: its reservation keeps only the rest."""
        await self.ledgers.partly_filled(event.account_id, {
            event.order.client_order_id: event.order.filled_quantity})
        return []

    async def free_many(self, events: Sequence[Any]) -> list[list[Outgoing]]:
        """Terminal events free their signals' reservations, partial fills shrink
        them: one write per account for each."""
        signals: dict[str, list[str]] = {}
        parts: dict[str, dict[str, Decimal]] = {}
        for event in events:
            if isinstance(event, TradeExecuted | WebhookFailed) and event.account_id \
                    and not event.dry_run:
                signals.setdefault(event.account_id, []).append(event.signal_id)
            elif isinstance(event, OrderPartiallyFilled):
                part = parts.setdefault(event.account_id, {})
                coid = event.order.client_order_id
                part[coid] = max(part.get(coid, Decimal(0)), event.order.filled_quantity)
        # Partial fills first: a batch holding an order's partial and final fills
        # ends with no reservation either way.
        for account_id, filled in parts.items():
            await self.ledgers.partly_filled(account_id, filled)
        for account_id, signal_ids in signals.items():
            await self.ledgers.release(account_id, *signal_ids)
        return [[] for _ in events]


def _reserve(event: WebhookValidated, strategy: Strategy, snapshot: AccountSnapshot,
             ledger: RiskLedger, coid: str, capabilities: Capabilities | None = None
             ) -> tuple[OrderRequest, Decimal] | RiskRefusal:
    """Size the signal against the broker's positions plus the ledger's reservations
    and check the limits: the order and its notional, reserved in ``ledger`` (and
    counted), or why not (``ledger`` untouched)."""
    exposure = Exposure.of(snapshot, ledger)
    effective = msgspec.structs.replace(snapshot, positions=exposure.positions)
    order = decide_order(event.signal, strategy, effective, coid, capabilities)
    if isinstance(order, RiskRefusal):
        return order
    price = (event.signal.price or exposure.prices.get(order.symbol)
             or order.reference_price or Decimal(0))
    refused = check_limits(event.signal, order, strategy, exposure, ledger, price,
                           capabilities)
    if refused is not None:
        return refused
    notional = order_notional(order, price)
    held = effective.position(order.symbol)
    signed = -held if order.close_position else (
        order.quantity if order.side == "buy" else -order.quantity)
    ledger.count(notional)
    ledger.pending[order.client_order_id] = Reservation(
        signal_id=event.signal_id, symbol=order.symbol, signed_quantity=signed,
        notional=notional, order=order)
    return order, notional


@dataclass(frozen=True)
class _Planned:
    """A signal that may be decided in a run, with what deciding it needs."""

    event: WebhookValidated
    strategy: Strategy
    account: Account
    coid: str


class Ended:
    """The answer of a signal whose order went out and has ended."""


ENDED = Ended()


def _answered(ledger: RiskLedger, coid: str, decided: Decision | None
              ) -> OrderRequest | Refusal | Ended | None:
    """A signal's first answer from the ledger (reserved orders, and refusals of
    ledgers written before decisions were kept apart) and its remembered decision."""
    reserved = ledger.pending.get(coid)
    if reserved is not None:
        return reserved.order if reserved.order is not None else ENDED
    if coid in ledger.refused:
        return ledger.refused[coid]
    if decided is not None:
        return decided.refusal if decided.refusal is not None else ENDED
    if coid in ledger.today:
        return ENDED
    return None
