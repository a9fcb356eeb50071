"""What an order's state at the broker means for its signal, as events to publish.

Pure: an order's context (who it belongs to) and its state in, events out. Entries
end their signal (``webhook.trade_executed`` / ``webhook.failed``) or rest
(``order.placed``, then ``order.partially_filled`` as parts fill); protective legs
follow a signal that already ended, so their events are not terminal.
"""

from __future__ import annotations

from contracts import streams
from contracts.events import (
    LegCanceled,
    LegFilled,
    LegResized,
    OrderPartiallyFilled,
    OrderPlaced,
    TradeExecuted,
)
from contracts.orders import BrokerOrder
from libs.runtime.clock import Clock
from libs.runtime.consumer import Outgoing
from libs.runtime.failures import failure
from libs.runtime.ids import derived_event_id
from services.executor.open_orders import OpenOrder


def outcome(ctx: OpenOrder, order: BrokerOrder, clock: Clock) -> list[Outgoing]:
    """The event an order's current state means for its signal."""
    if ctx.leg:
        return leg_outcome(ctx, order, clock)
    if order.status == "filled" and order.fill is not None:
        executed = TradeExecuted(
            event_id=derived_event_id(ctx.signal_id, "executed"), signal_id=ctx.signal_id,
            tenant_id=ctx.tenant_id, occurred_at=clock.now(),
            strategy_id=ctx.strategy_id, account_id=ctx.account_id, broker=ctx.broker,
            fill=order.fill, request=ctx.request,
        )
        return [Outgoing(executed, streams.message_id(ctx.signal_id, "executed"))]
    if order.status == "open":
        placed = OrderPlaced(
            event_id=derived_event_id(ctx.signal_id, "placed"), signal_id=ctx.signal_id,
            tenant_id=ctx.tenant_id, occurred_at=clock.now(),
            strategy_id=ctx.strategy_id, account_id=ctx.account_id, broker=ctx.broker,
            order=order,
        )
        return [Outgoing(placed, streams.message_id(ctx.signal_id, "placed"))]
    reason = _reason(ctx, order) or f"the broker reports the order {order.status}"
    return [failure(ctx, "execute", f"order_{order.status}", reason, clock,
                    {"client_order_id": order.client_order_id})]


def partial_fill(ctx: OpenOrder, order: BrokerOrder, clock: Clock) -> list[Outgoing]:
    """``order.partially_filled`` when more of a resting order filled than was last
    reported (``ctx.filled_quantity``); nothing otherwise. One event per filled
    quantity: a repeat is dropped by its message id."""
    if order.status != "open" or order.filled_quantity <= ctx.filled_quantity:
        return []
    stage = f"{'leg-' + ctx.leg + '-' if ctx.leg else ''}partial-" \
            f"{order.filled_quantity.normalize():f}"
    event = OrderPartiallyFilled(
        event_id=derived_event_id(ctx.signal_id, stage), signal_id=ctx.signal_id,
        tenant_id=ctx.tenant_id, occurred_at=clock.now(), strategy_id=ctx.strategy_id,
        account_id=ctx.account_id, broker=ctx.broker, order=order)
    return [Outgoing(event, streams.message_id(ctx.signal_id, stage))]


def leg_outcome(ctx: OpenOrder, order: BrokerOrder, clock: Clock) -> list[Outgoing]:
    """Events of a protective leg. A broker's OCO order says which of its legs filled
    (``order.leg``); a leg still open but smaller than it was placed was shrunk to
    the position."""
    leg = order.leg or ctx.leg
    stage = f"leg-{leg}-{order.status}"
    requested = ctx.request.quantity if ctx.request is not None else order.quantity
    if order.status == "open" and order.quantity < requested:
        stage = f"leg-{leg}-resized-{order.quantity.normalize():f}"
    event_id = derived_event_id(ctx.signal_id, stage)
    msg_id = streams.message_id(ctx.signal_id, stage)
    now = clock.now()
    event: LegFilled | LegResized | OrderPlaced | LegCanceled
    if order.status == "filled" and order.fill is not None:
        event = LegFilled(
            event_id=event_id, signal_id=ctx.signal_id, tenant_id=ctx.tenant_id,
            occurred_at=now, strategy_id=ctx.strategy_id, account_id=ctx.account_id,
            broker=ctx.broker, leg=leg, order=order, fill=order.fill)
    elif order.status == "open" and order.quantity < requested:
        event = LegResized(
            event_id=event_id, signal_id=ctx.signal_id, tenant_id=ctx.tenant_id,
            occurred_at=now, strategy_id=ctx.strategy_id, account_id=ctx.account_id,
            broker=ctx.broker, leg=leg, order=order,
            reason=order.reason or "shrunk to the position it protects")
    elif order.status == "open":
        event = OrderPlaced(
            event_id=event_id, signal_id=ctx.signal_id, tenant_id=ctx.tenant_id,
            occurred_at=now, strategy_id=ctx.strategy_id, account_id=ctx.account_id,
            broker=ctx.broker, order=order)
    else:
        event = LegCanceled(
            event_id=event_id, signal_id=ctx.signal_id, tenant_id=ctx.tenant_id,
            occurred_at=now, strategy_id=ctx.strategy_id, account_id=ctx.account_id,
            broker=ctx.broker, leg=leg, order=order,
            reason=_reason(ctx, order) or f"the broker reports the leg {order.status}")
    return [Outgoing(event, msg_id)]


def _reason(ctx: OpenOrder, order: BrokerOrder) -> str:
    """Why an order ended: ours when we cancelled it (brokers such as Alpaca only say
    "canceled"), else the broker's."""
    if order.status == "canceled" and ctx.cancel_reason:
        return ctx.cancel_reason
    return order.reason


def leg_refused(ctx: OpenOrder, reason: str, clock: Clock) -> list[Outgoing]:
    """``order.leg_canceled`` for a protective leg that could not be placed."""
    assert ctx.request is not None
    order = ctx.request
    refused = BrokerOrder(
        order_id="", client_order_id=order.client_order_id, symbol=order.symbol,
        side=order.side, quantity=order.quantity, order_type=order.order_type,
        status="rejected", submitted_at=clock.now(), leg=order.leg,
        oco_group=order.oco_group, reason=reason)
    return leg_outcome(ctx, refused, clock)
