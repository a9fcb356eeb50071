"""Executor: ``order.requested`` → broker → ``webhook.trade_executed`` / ``order.placed`` /
``webhook.failed``; price ticks fill resting paper orders; a sync loop ends the
signals of resting orders that filled or ended at the broker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from contracts import streams
from contracts.events import (
    AnyEvent,
    LegCanceled,
    LegFilled,
    OrderPlaced,
    OrderRequested,
    TradeExecuted,
)
from contracts.market import PriceTick
from contracts.orders import BrokerOrder, OrderRequest, entry_order_id
from services.brokers.base import Broker, BrokerRejected
from services.brokers.factory import Brokers
from services.executor.open_orders import OpenOrder, OpenOrders
from services.registry.models import Account
from services.registry.store import Registry
from services.runtime.bus import Bus
from services.runtime.clock import Clock
from services.runtime.consumer import Outgoing
from services.runtime.failures import failure
from services.runtime.ids import derived_event_id
from services.runtime.timers import run_every

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


class Executor:
    """Places orders with the account's broker, at most once per client order id."""

    def __init__(self, registry: Registry, brokers: Brokers, open_orders: OpenOrders,
                 clock: Clock) -> None:
        self.registry = registry
        self.brokers = brokers
        self.open_orders = open_orders
        self.clock = clock

    async def handle(self, event: AnyEvent) -> list[Outgoing]:
        """Dispatch one consumed event."""
        if not isinstance(event, OrderRequested):
            return []
        account = await self.registry.account(event.account_id)
        if account is None:
            return [failure(event, "execute", "unknown_account",
                            "the account was removed before the order was placed", self.clock)]
        order = event.order
        out: list[Outgoing] = []
        if account.broker == "paper" and order.reference_price and order.order_type == "market":
            # The alert's price is a market observation: resting orders may fill.
            out += await self.on_price(PriceTick(symbol=order.symbol,
                                                 price=order.reference_price,
                                                 observed_at=self.clock.now(), source="alert"))
        try:
            broker = self.brokers.for_account(account)
            if order.leg:
                await replace_older_legs(broker, account, order)
            # submit() returns the earlier result for a known client order id, so a
            # redelivered request never trades twice. BrokerUnavailable propagates:
            # the message is redelivered with backoff and looked up again.
            result = await broker.submit(account, order)
        except BrokerRejected as exc:
            if order.leg:  # the signal already ended; a refused leg is not a failure of it
                return [*out, *self.leg_refused(event, f"{exc.code}: {exc.reason}",
                                                account.broker)]
            return [*out, failure(event, "execute", exc.code, exc.reason, self.clock,
                                  {"client_order_id": order.client_order_id})]
        context = order_context(event, account.broker)
        if result.status == "open":
            await self.open_orders.remember(context)
        return [*out, *self.outcome(context, result)]

    def leg_refused(self, event: OrderRequested, reason: str,
                    broker: str = "") -> list[Outgoing]:
        """``order.leg_canceled`` for a protective leg that could not be placed."""
        order = event.order
        refused = BrokerOrder(
            order_id="", client_order_id=order.client_order_id, symbol=order.symbol,
            side=order.side, quantity=order.quantity, order_type=order.order_type,
            status="rejected", submitted_at=self.clock.now(), leg=order.leg,
            oco_group=order.oco_group, reason=reason)
        return self.outcome(order_context(event, broker), refused)

    def on_exhausted(self, event: AnyEvent, reason: str) -> list[Outgoing]:
        """After the last retry: a leg ends as cancelled, anything else fails its signal."""
        if isinstance(event, OrderRequested) and event.order.leg:
            return self.leg_refused(event, f"gave up after repeated errors: {reason}")
        return [failure(event, "execute", "internal_error",
                        f"gave up after repeated errors: {reason}", self.clock)]

    def outcome(self, ctx: OpenOrder, order: BrokerOrder) -> list[Outgoing]:
        """The event an order's current state means for its signal."""
        if ctx.leg:
            return self._leg_outcome(ctx, order)
        if order.status == "filled" and order.fill is not None:
            executed = TradeExecuted(
                event_id=derived_event_id(ctx.signal_id, "executed"), signal_id=ctx.signal_id,
                tenant_id=ctx.tenant_id, occurred_at=self.clock.now(),
                strategy_id=ctx.strategy_id, account_id=ctx.account_id, broker=ctx.broker,
                fill=order.fill, request=ctx.request,
            )
            return [Outgoing(executed, streams.message_id(ctx.signal_id, "executed"))]
        if order.status == "open":
            placed = OrderPlaced(
                event_id=derived_event_id(ctx.signal_id, "placed"), signal_id=ctx.signal_id,
                tenant_id=ctx.tenant_id, occurred_at=self.clock.now(),
                strategy_id=ctx.strategy_id, account_id=ctx.account_id, broker=ctx.broker,
                order=order,
            )
            return [Outgoing(placed, streams.message_id(ctx.signal_id, "placed"))]
        reason = order.reason or f"the broker reports the order {order.status}"
        return [failure(ctx, "execute", f"order_{order.status}", reason, self.clock,
                        {"client_order_id": order.client_order_id})]

    def _leg_outcome(self, ctx: OpenOrder, order: BrokerOrder) -> list[Outgoing]:
        """Legs follow a signal that already ended: their events are not terminal.

        A broker's OCO order says which of its legs filled (``order.leg``)."""
        leg = order.leg or ctx.leg
        stage = f"leg-{leg}-{order.status}"
        event_id = derived_event_id(ctx.signal_id, stage)
        msg_id = streams.message_id(ctx.signal_id, stage)
        now = self.clock.now()
        if order.status == "filled" and order.fill is not None:
            filled = LegFilled(
                event_id=event_id, signal_id=ctx.signal_id, tenant_id=ctx.tenant_id,
                occurred_at=now, strategy_id=ctx.strategy_id, account_id=ctx.account_id,
                broker=ctx.broker, leg=leg, order=order, fill=order.fill)
            return [Outgoing(filled, msg_id)]
        if order.status == "open":
            placed = OrderPlaced(
                event_id=event_id, signal_id=ctx.signal_id, tenant_id=ctx.tenant_id,
                occurred_at=now, strategy_id=ctx.strategy_id, account_id=ctx.account_id,
                broker=ctx.broker, order=order)
            return [Outgoing(placed, msg_id)]
        canceled = LegCanceled(
            event_id=event_id, signal_id=ctx.signal_id, tenant_id=ctx.tenant_id,
            occurred_at=now, strategy_id=ctx.strategy_id, account_id=ctx.account_id,
            broker=ctx.broker, leg=leg, order=order,
            reason=order.reason or f"the broker reports the leg {order.status}")
        return [Outgoing(canceled, msg_id)]

    async def on_price(self, tick: PriceTick) -> list[Outgoing]:
        """Record the price and fill resting paper orders that ``tick`` crosses."""
        await self.brokers.paper.record_price(tick.symbol, tick.price)
        remembered = [o for o in await self.open_orders.for_symbol(tick.symbol)
                      if o.broker == "paper"]
        out: list[Outgoing] = []
        for account_id in sorted({o.account_id for o in remembered}):
            account = await self.registry.account(account_id)
            if account is None:
                continue
            changed = await self.brokers.paper.observe_price(account, tick.symbol, tick.price)
            by_id = {o.client_order_id: o for o in remembered if o.account_id == account_id}
            for order in changed:
                ctx = by_id.get(order.client_order_id)
                if ctx is not None:
                    out += self.outcome(ctx, order)
        return out

    async def sync_open_orders(self, bus: Bus) -> int:
        """Ask the broker about every remembered order; end the finished ones.

        The terminal event is published (a repeat is dropped by its message id)
        before the order is forgotten, so a crash in between loses nothing.
        """
        ended = 0
        accounts: dict[str, Account | None] = {}
        for ctx in await self.open_orders.all():
            if ctx.account_id not in accounts:
                accounts[ctx.account_id] = await self.registry.account(ctx.account_id)
            account = accounts[ctx.account_id]
            if account is None:
                continue
            order = await self.brokers.for_account(account).find_order(
                account, ctx.client_order_id)
            if order is None or order.status == "open":
                continue
            await _publish(bus, self.outcome(ctx, order))
            await self.open_orders.forget(ctx)
            ended += 1
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
    """Background loop: ends signals whose resting orders finished at the broker."""

    def __init__(self, executor: Executor, bus: Bus, interval_s: float = 1.0) -> None:
        self.executor = executor
        self.bus = bus
        self.interval_s = interval_s

    async def run(self, stop: asyncio.Event) -> None:
        """Sync every ``interval_s`` until ``stop``."""
        await run_every(stop, self.interval_s, lambda: self.executor.sync_open_orders(self.bus),
                        "open-order sync")
