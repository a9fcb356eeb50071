"""``close_all`` over an account and ``cancel_all``: one signal, several orders.

Each ends the signal with one ``webhook.trade_executed``: a ``close_all`` lists the
fill of every position it closed (``fills``) and why any could not be closed
(``skipped``); a ``cancel_all`` lists the orders it cancelled (``canceled``).
Protective legs are not cancelled by ``cancel_all``: they only ever reduce a
position, and go by themselves once it is closed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import msgspec

from contracts.orders import BrokerOrder, Fill, OrderRequest
from domain.protection import is_leg
from libs.brokers.base import Broker, BrokerRejected
from libs.registry.models import Account


def child_order_id(client_order_id: str, symbol: str) -> str:
    """The id of a ``close_all``'s order for one symbol: the same on every attempt."""
    return f"{client_order_id}-{hashlib.sha256(symbol.encode()).hexdigest()[:6]}"


@dataclass
class SweepResult:
    """What a sweep did at the broker."""

    fills: list[Fill] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    canceled: list[BrokerOrder] = field(default_factory=list)


async def close_all(broker: Broker, account: Account, order: OrderRequest) -> SweepResult:
    """Close every position risk saw (``order.symbols``), each by its own order; a
    repeat finds the orders placed before and reports the same fills."""
    result = SweepResult()
    for symbol in order.symbols:
        child = msgspec.structs.replace(
            order, client_order_id=child_order_id(order.client_order_id, symbol),
            symbol=symbol, symbols=[], reference_price=None)
        try:
            placed = await broker.submit(account, child)
        except BrokerRejected as exc:
            result.skipped[symbol] = f"{exc.code}: {exc.reason}"
            continue
        if placed.status == "filled" and placed.fill is not None:
            result.fills.append(placed.fill)
        else:
            result.skipped[symbol] = placed.reason or f"the order is {placed.status}"
    return result


async def cancel_all(broker: Broker, account: Account, order: OrderRequest) -> SweepResult:
    """Cancel the resting orders of ``order.symbol`` (every symbol when "")."""
    result = SweepResult()
    for resting in await broker.open_orders(account):
        if is_leg(resting) or (order.symbol and resting.symbol != order.symbol):
            continue
        canceled = await broker.cancel_order(account, resting.client_order_id,
                                             f"cancel_all by {order.client_order_id}")
        if canceled is not None and canceled.status == "canceled":
            result.canceled.append(canceled)
    return result
