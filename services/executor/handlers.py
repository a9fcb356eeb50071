"""Executor: the one code that writes to a broker (submit, cancel, shrink).

``order.requested`` → broker → ``webhook.trade_executed`` / ``order.placed`` /
``webhook.failed``; ``order.cancel_requested`` (the breaker, the orphan cleanup) →
cancels; price ticks fill resting paper orders. After every fill the symbol's
protective legs are brought in line with the position (the paper broker does it
inside the fill's own update; for other brokers the executor does it right after).
A sync loop reports what happened at the broker to resting orders meanwhile
(partial fills as ``order.partially_filled``, as they happen).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from contracts import streams
from contracts.events import AnyEvent, CancelRequested, OrderRequested, TradeExecuted
from contracts.market import PriceTick
from contracts.orders import BrokerOrder, OrderRequest, entry_order_id
from domain.protection import LegFix, is_leg, leg_fixes, violations
from libs.brokers.base import Broker, BrokerRejected, BrokerUnavailable
from libs.brokers.factory import Brokers
from libs.registry.models import Account
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock
from libs.runtime.consumer import Outgoing
from libs.runtime.dispatch import HandlerTable
from libs.runtime.failures import failure
from libs.runtime.ids import derived_event_id
from libs.runtime.timers import run_every
from services.executor import sweeps
from services.executor.open_orders import OpenOrder, OpenOrders
from services.executor.outcomes import leg_refused, outcome, partial_fill

log = logging.getLogger(__name__)


async def replace_older_legs(broker: Broker, account: Account, leg: OrderRequest) -> list[str]:
    """Cancel the open legs of earlier entries on the leg's symbol; their ids.

    Legs always cover the whole position, so a newer entry's legs replace older ones.
    The monitor asks for legs in fill order and the executor places an account's
    orders in that order, so doing it here holds even when the executor lags behind
    several fills (the monitor's own cancel finds nothing placed yet then).
    """
    entry = entry_order_id(leg.client_order_id)
    replaced = []
    for order in await broker.open_orders(account):
        if order.leg and order.symbol == leg.symbol and \
                entry_order_id(order.client_order_id) != entry:
            await broker.cancel_order(account, order.client_order_id,
                                      "replaced by the legs of a newer entry")
            replaced.append(order.client_order_id)
    return replaced


def in_scope(order: BrokerOrder, request: CancelRequested) -> bool:
    """Does a cancel request cover ``order``?"""
    if order.status != "open":
        return False
    if request.symbol and order.symbol != request.symbol:
        return False
    return is_leg(order) or not request.legs_only


class Executor:
    """Places and cancels orders with the account's broker, at most once per client
    order id, in the order an account's requests were decided."""

    def __init__(self, registry: Registry, brokers: Brokers, open_orders: OpenOrders,
                 clock: Clock) -> None:
        self.registry = registry
        self.brokers = brokers
        self.open_orders = open_orders
        self.clock = clock
        # What the executor consumes (streams.EXECUTOR).
        self.handle = HandlerTable({
            OrderRequested: self.place,
            CancelRequested: self.cancel,
        })

    async def place(self, event: OrderRequested) -> list[Outgoing]:
        """Submit the requested order (once) and say what became of it."""
        account = await self.registry.account(event.account_id)
        if account is None:
            return [failure(event, "execute", "unknown_account",
                            "the account was removed before the order was placed", self.clock)]
        order = event.order
        out: list[Outgoing] = []
        if order.reference_price and order.order_type == "market":
            # The alert's price is a market observation: it marks positions, and
            # resting paper orders may fill.
            out += await self.on_price(PriceTick(symbol=order.symbol,
                                                 price=order.reference_price,
                                                 observed_at=event.occurred_at,
                                                 source="alert"))
        ctx = order_context(event, account.broker)
        if order.intent == "cancel_all" or (order.intent == "close_all" and not order.symbol):
            return [*out, *await self.sweep(event, account)]
        try:
            broker = self.brokers.for_account(account)
            if order.leg and not broker.keeps_legs_with_position:
                await replace_older_legs(broker, account, order)
            # submit() returns the earlier result for a known client order id, so a
            # redelivered request never trades twice. BrokerUnavailable propagates:
            # the message is redelivered with backoff and looked up again.
            result = await broker.submit(account, order)
        except BrokerRejected as exc:
            if order.leg:  # the signal already ended; a refused leg is not a failure of it
                return [*out, *leg_refused(ctx, f"{exc.code}: {exc.reason}", self.clock)]
            return [*out, failure(event, "execute", exc.code, exc.reason, self.clock,
                                  {"client_order_id": order.client_order_id})]
        if result.status == "open":
            await self.open_orders.remember(ctx)
        out += outcome(ctx, result, self.clock)
        if partial := partial_fill(ctx, result, self.clock):
            out += partial
            await self.open_orders.remember(
                msgspec.structs.replace(ctx, filled_quantity=result.filled_quantity))
        if result.status == "filled":
            out += await self.protect(account, broker, result.symbol)
        return out

    async def place_many(self, events: Sequence[Any]) -> list[list[Outgoing]]:
        """Carry out events in order, each answered as :attr:`handle` answers it.

        Runs of one paper account's plain market orders (a run of one too) are placed
        together: their alert prices recorded in one write per symbol, the orders in
        one write of the account, the market read only for an order without a price.
        A run goes one order at a time instead when a resting order could fill at one
        of its prices (the monitor's legs, limit orders); anything else (cancels,
        sweeps, legs, other brokers) always does.
        """
        out: list[list[Outgoing]] = []
        run: list[tuple[OrderRequested, Account]] = []
        for event in events:
            account = await self._plain_paper_order(event)
            if run and (account is None or account.id != run[0][1].id):
                out += await self._place_run(run)
                run = []
            if account is not None:
                run.append((event, account))
            else:
                out.append(list(await self.handle(event)))
        return out + await self._place_run(run)

    async def _plain_paper_order(self, event: Any) -> Account | None:
        """The account of a plain market order on the paper broker; else None."""
        if not isinstance(event, OrderRequested):
            return None
        order = event.order
        if order.leg or order.order_type != "market" or \
                order.intent in ("cancel_all", "close_all"):
            return None
        account = await self.registry.account(event.account_id)
        return account if account is not None and account.broker == "paper" else None

    async def _place_run(self, run: list[tuple[OrderRequested, Account]]
                         ) -> list[list[Outgoing]]:
        """Place a run of one paper account's market orders (see :meth:`place_many`)."""
        if not run:
            return []
        paper = self.brokers.paper
        symbols = list(dict.fromkeys(event.order.symbol for event, _ in run))
        resting = await asyncio.gather(*(self.open_orders.for_symbol(s) for s in symbols))
        if any(o.broker == "paper" for orders in resting for o in orders):
            return [list(await self.handle(event)) for event, _ in run]
        # The market each order meets: the alert prices recorded up to it (as
        # on_price records them, older observations losing), else what was recorded
        # (read only for a symbol with an order that brings no price of its own).
        unpriced = list(dict.fromkeys(event.order.symbol for event, _ in run
                                      if not event.order.reference_price))
        before: dict[str, Decimal | None] = dict.fromkeys(symbols)
        before.update(zip(unpriced, await asyncio.gather(
            *(paper.market_price(s) for s in unpriced)), strict=True))
        seen: dict[str, list[int]] = {}
        for n, (event, _) in enumerate(run):
            if event.order.reference_price:
                seen.setdefault(event.order.symbol, []).append(n)
        recorded = await asyncio.gather(*(paper.prices.record_many(
            symbol, [(run[n][0].order.reference_price or Decimal(0), run[n][0].occurred_at)
                     for n in indexes]) for symbol, indexes in seen.items()))
        market: list[Decimal | None] = []
        latest = dict(before)
        after = {n: price for indexes, prices in zip(seen.values(), recorded, strict=True)
                 for n, price in zip(indexes, prices, strict=True)}
        for n, (event, _) in enumerate(run):
            if n in after:
                latest[event.order.symbol] = after[n]
            market.append(latest[event.order.symbol])
        account = run[0][1]
        results = await paper.submit_many(
            account, [(event.order, price) for (event, _), price in zip(run, market,
                                                                          strict=True)])
        out: list[list[Outgoing]] = []
        for (event, _), result in zip(run, results, strict=True):
            if isinstance(result, BrokerRejected):
                out.append([failure(event, "execute", result.code, result.reason, self.clock,
                                    {"client_order_id": event.order.client_order_id})])
                continue
            ctx = order_context(event, account.broker)
            if result.status == "open":
                await self.open_orders.remember(ctx)
            out.append(outcome(ctx, result, self.clock))
        return out

    async def sweep(self, event: OrderRequested, account: Account) -> list[Outgoing]:
        """A ``close_all`` over the account or a ``cancel_all``: its orders, then the
        signal's one terminal event."""
        try:
            broker = self.brokers.for_account(account)
            if event.order.intent == "cancel_all":
                result = await sweeps.cancel_all(broker, account, event.order)
            else:
                result = await sweeps.close_all(broker, account, event.order)
        except BrokerRejected as exc:
            return [failure(event, "execute", exc.code, exc.reason, self.clock)]
        out: list[Outgoing] = []
        for canceled in result.canceled:  # the resting orders' own signals end
            ctx = await self.open_orders.get(account.id, canceled.client_order_id)
            if ctx is not None:
                out += outcome(ctx, canceled, self.clock)
        if event.order.intent == "close_all" and not result.fills:
            reason = "; ".join(f"{s}: {why}" for s, why in sorted(result.skipped.items()))
            return [*out, failure(event, "execute", "no_position",
                                  reason or "no position was closed", self.clock)]
        executed = TradeExecuted(
            event_id=derived_event_id(event.signal_id, "executed"), signal_id=event.signal_id,
            tenant_id=event.tenant_id, occurred_at=self.clock.now(),
            strategy_id=event.strategy_id, account_id=event.account_id,
            broker=account.broker, request=event.order, fills=result.fills,
            canceled=[o.client_order_id for o in result.canceled], skipped=result.skipped)
        out.append(Outgoing(executed, streams.message_id(event.signal_id, "executed")))
        for fill in result.fills:
            out += await self.protect(account, broker, fill.symbol)
        return out

    async def cancel(self, event: CancelRequested) -> list[Outgoing]:
        """Carry out a cancel request: every open order it covers, or, with
        ``protection``, only the legs that break the protection rule by now."""
        account = await self.registry.account(event.account_id)
        if account is None:
            return []
        broker = self.brokers.for_account(account)
        orders = [o for o in await broker.open_orders(account) if in_scope(o, event)]
        if event.protection:
            positions = (await broker.snapshot(account)).positions
            fixes = [LegFix(fix.client_order_id, fix.action, f"{event.reason}: {fix.reason}",
                            fix.quantity) for _, fix in violations(positions, orders)]
        else:
            fixes = [LegFix(o.client_order_id, "cancel", event.reason) for o in orders]
        return await self.apply(account, broker, fixes)

    async def protect(self, account: Account, broker: Broker, symbol: str) -> list[Outgoing]:
        """Bring the legs of ``symbol`` in line with the position after a fill (nothing
        to do where the broker does it itself in the fill's own update: the paper broker)."""
        if broker.keeps_legs_with_position:
            return []
        position = (await broker.snapshot(account)).position(symbol)
        fixes = leg_fixes(symbol, position, await broker.open_orders(account))
        return await self.apply(account, broker, fixes)

    async def apply(self, account: Account, broker: Broker,
                    fixes: Iterable[LegFix]) -> list[Outgoing]:
        """Cancel or shrink each order; the events of those that ended.

        Shrunk legs are reported by the order sync, which then remembers their new
        size (a report here could not be followed by that update once published).
        """
        out: list[Outgoing] = []
        for fix in fixes:
            ctx = await self.open_orders.get(account.id, fix.client_order_id)
            if ctx is not None:  # remembered first: the order sync may report it before us
                ctx = msgspec.structs.replace(ctx, cancel_reason=fix.reason)
                await self.open_orders.remember(ctx)
            if fix.action == "cancel":
                order = await broker.cancel_order(account, fix.client_order_id, fix.reason)
            else:
                order = await broker.resize_order(account, fix.client_order_id,
                                                  fix.quantity, fix.reason)
            if order is not None and order.status != "open" and ctx is not None:
                out += outcome(ctx, order, self.clock)
        return out

    def on_exhausted(self, event: AnyEvent, reason: str) -> list[Outgoing]:
        """After the last retry: a leg ends as cancelled, a cancel request is dropped
        (the next cleanup asks again), anything else fails its signal."""
        if isinstance(event, OrderRequested) and event.order.leg:
            return leg_refused(order_context(event, ""),
                               f"gave up after repeated errors: {reason}", self.clock)
        if isinstance(event, CancelRequested):
            log.error("gave up on cancel request %s: %s", event.event_id, reason)
            return []
        return [failure(event, "execute", "internal_error",
                        f"gave up after repeated errors: {reason}", self.clock)]

    async def on_price(self, tick: PriceTick) -> list[Outgoing]:
        """Record the price and fill resting paper orders that ``tick`` crosses; a
        tick older than the last one recorded changes nothing (it is history)."""
        # Both reads leave together (one round trip); the orders are used only when
        # the price is news.
        recorded, orders = await asyncio.gather(
            self.brokers.paper.record_price(tick.symbol, tick.price, tick.observed_at),
            self.open_orders.for_symbol(tick.symbol), return_exceptions=True)
        if isinstance(recorded, BaseException):
            raise recorded
        if isinstance(orders, BaseException):
            raise orders
        if not recorded:
            return []
        remembered = [o for o in orders if o.broker == "paper"]
        out: list[Outgoing] = []
        for account_id in sorted({o.account_id for o in remembered}):
            account = await self.registry.account(account_id)
            if account is None:
                continue
            changed = await self.brokers.paper.observe_price(account, tick.symbol, tick.price)
            by_id = {o.client_order_id: o for o in remembered if o.account_id == account_id}
            for order in changed:
                ctx = by_id.get(order.client_order_id)
                if ctx is not None and order.status != "open":
                    out += outcome(ctx, order, self.clock)
        return out

    async def sync_open_orders(self, bus: Bus) -> int:
        """Ask the broker about every remembered order; report what changed.

        An ended order's event is published (a repeat is dropped by its message id)
        before the order is forgotten; a shrunk leg's before its new size is
        remembered. A crash in between loses nothing. Returns how many ended.

        An account whose broker cannot answer (down, or no longer configured) is
        skipped for the rest of the round: the other accounts' orders are still
        synced (one venue's outage must not hide another's fills).
        """
        ended = 0
        accounts: dict[str, Account | None] = {}
        for ctx in await self.open_orders.all():
            if ctx.account_id not in accounts:
                accounts[ctx.account_id] = await self.registry.account(ctx.account_id)
            account = accounts[ctx.account_id]
            if account is None:
                continue
            broker = self.brokers.for_account(account)
            try:
                # The symbol remembered with the order: a venue that looks orders up
                # per market finds an ended one only with it (e.g. after a restart).
                order = await broker.find_order(account, ctx.client_order_id, ctx.symbol)
            except (BrokerUnavailable, BrokerRejected) as exc:
                log.warning("open-order sync: account %s skipped this round: %s",
                            account.id, exc)
                accounts[ctx.account_id] = None
                continue
            if order is None:
                continue
            if order.status == "open":
                if partial := partial_fill(ctx, order, self.clock):
                    await _publish(bus, partial)  # reported, then remembered: none lost
                    ctx = msgspec.structs.replace(ctx, filled_quantity=order.filled_quantity)
                    await self.open_orders.remember(ctx)
                if ctx.request is not None and order.quantity < ctx.request.quantity:
                    await _publish(bus, outcome(ctx, order, self.clock))
                    await self.open_orders.remember(ctx.resized(order.quantity))
                continue
            await _publish(bus, outcome(ctx, order, self.clock))
            await self.open_orders.forget(ctx)
            ended += 1
            if order.status == "filled":
                # A stop that filled leaves its take-profit sibling resting, an entry
                # limit that filled may leave legs larger than the position: brought
                # in line now, not at the next orphan cleanup (a spot sell left
                # standing could sell coins bought later).
                try:
                    await _publish(bus, await self.protect(account, broker, order.symbol))
                except (BrokerUnavailable, BrokerRejected) as exc:
                    log.warning("open-order sync: legs of %s on %s left for the cleanup: %s",
                                order.symbol, account.id, exc)
        return ended


def order_context(event: OrderRequested, broker: str) -> OpenOrder:
    """What is remembered with an order to end its signal later."""
    order = event.order
    return OpenOrder(client_order_id=order.client_order_id, signal_id=event.signal_id,
                     tenant_id=event.tenant_id, strategy_id=event.strategy_id,
                     account_id=event.account_id, broker=broker, symbol=order.symbol,
                     request=order)


async def _publish(bus: Bus, outgoing: Iterable[Outgoing]) -> None:
    for item in outgoing:
        await bus.publish_event(item.event, item.msg_id)


class OrderSync:
    """Background loop: reports what happened to resting orders at the broker."""

    def __init__(self, executor: Executor, bus: Bus, interval_s: float = 1.0) -> None:
        self.executor = executor
        self.bus = bus
        self.interval_s = interval_s

    async def run(self, stop: asyncio.Event) -> None:
        """Sync every ``interval_s`` until ``stop``."""
        await run_every(stop, self.interval_s, lambda: self.executor.sync_open_orders(self.bus),
                        "open-order sync")
