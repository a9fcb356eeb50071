"""Orders between the pipeline and ccxt: what to send, and what the venue answered.

The sizes and prices sent are the market's (``amount_to_precision`` truncates to the
amount step, ``price_to_precision`` rounds to the tick); an order the market's
minimums refuse (amount or cost) is refused here with the numbers, before any
request, so the signal ends in ``webhook.failed`` with a reason a trader can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from contracts.orders import (
    LEG_SUFFIXES,
    BrokerOrder,
    Fill,
    Leg,
    OrderRequest,
    OrderStatus,
    Side,
    entry_order_id,
)
from contracts.signals import OrderType
from libs.brokers.base import BrokerRejected

ZERO = Decimal(0)
_STATUS: dict[str, OrderStatus] = {"closed": "filled", "canceled": "canceled",
                                   "expired": "expired", "rejected": "rejected"}


@dataclass(frozen=True)
class VenueOrder:
    """The arguments of one ``create_order`` call."""

    symbol: str
    type: str  # "market" or "limit" (a stop is a market order with a trigger price)
    side: Side
    amount: str
    price: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def decimal(value: Any) -> Decimal | None:
    """A number from ccxt (float, str or None) as a Decimal."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def venue_order(exchange: Any, order: OrderRequest, unified: str, side: Side,
                quantity: Decimal, client_id: str, reduce_only: bool,
                contract: bool, stop_direction: bool = False, margin_mode: str = "",
                stop_client_param: str = "") -> VenueOrder:
    """``create_order`` arguments for ``order`` on ``unified``, rounded to the market.

    ``quantity`` is in coins; a market trading in contracts of several coins (OKX
    swaps: ``contractSize`` 0.01 BTC) is sent the number of contracts, truncated to
    the market's amount step. ``stop_direction``: the venue wants a stop's trigger
    direction (Bybit); ``margin_mode``: the margin mode each perpetual order names
    (OKX's ``tdMode``); ``stop_client_param``: the field a stop (algo) order carries
    our id in besides the usual one (OKX's ``algoClOrdId``).
    Raises BrokerRejected when the amount rounds to nothing or falls below the
    market's minimum amount or cost (at the limit, stop or reference price).
    """
    market = exchange.market(unified)
    per = contract_size(market)
    amount = _amount(exchange, unified, quantity / per, order)
    unit = f" contracts of {per} {unified}" if per != 1 else f" {unified}"
    limits = market.get("limits") or {}
    least = decimal((limits.get("amount") or {}).get("min"))
    if least is not None and Decimal(amount) < least:
        raise BrokerRejected("below_minimum", f"{amount}{unit} is below the market's "
                             f"minimum amount {least} (order {order.client_order_id})")
    price = order.limit_price or order.stop_price or order.reference_price
    least_cost = decimal((limits.get("cost") or {}).get("min"))
    coins = Decimal(amount) * per
    if least_cost is not None and price is not None and coins * price < least_cost:
        raise BrokerRejected("below_minimum", f"{amount}{unit} at {price} is "
                             f"{coins * price}, below the market's minimum "
                             f"order value {least_cost} (order {order.client_order_id})")
    params: dict[str, Any] = {"clientOrderId": client_id}
    if reduce_only and contract:
        params["reduceOnly"] = True
    if margin_mode and contract:
        params["marginMode"] = margin_mode
    if order.order_type == "limit":
        limit = _price(exchange, unified, order.limit_price, "limit", order)
        if order.time_in_force == "ioc":
            params["timeInForce"] = "IOC"
        return VenueOrder(unified, "limit", side, amount, limit, params)
    if order.order_type == "stop":
        params["triggerPrice"] = _price(exchange, unified, order.stop_price, "stop", order)
        if stop_direction:  # a buy stop triggers on a rise, a sell stop on a fall
            params["triggerDirection"] = "ascending" if side == "buy" else "descending"
        if stop_client_param:
            params[stop_client_param] = client_id
    return VenueOrder(unified, "market", side, amount, None, params)


def contract_size(market: dict[str, Any] | None) -> Decimal:
    """Coins per unit of a market's amounts: its ``contractSize`` where it trades in
    contracts (OKX swaps: 0.01 BTC), else 1."""
    if not market or not market.get("contract"):
        return Decimal(1)
    size = decimal(market.get("contractSize"))
    return size if size is not None and size > 0 else Decimal(1)


def _amount(exchange: Any, unified: str, quantity: Decimal, order: OrderRequest) -> str:
    try:
        amount = str(exchange.amount_to_precision(unified, str(quantity)))
    except Exception as exc:  # ccxt: InvalidOrder when it rounds below one step
        raise BrokerRejected("below_minimum", f"{quantity} {unified} rounds to nothing at "
                             f"the market's amount step (order {order.client_order_id}): "
                             f"{exc}") from None
    if Decimal(amount) <= 0:
        raise BrokerRejected("below_minimum", f"{quantity} {unified} rounds to 0 at the "
                             f"market's amount step (order {order.client_order_id})")
    return amount


def _price(exchange: Any, unified: str, price: Decimal | None, kind: str,
           order: OrderRequest) -> str:
    if price is None or price <= 0:
        raise BrokerRejected("missing_price",
                             f"{kind} order {order.client_order_id} has no {kind} price")
    return str(exchange.price_to_precision(unified, str(price)))


def broker_order(found: dict[str, Any], client_order_id: str, symbol: str,
                 now: datetime, per: Decimal = Decimal(1)) -> BrokerOrder:
    """A ccxt order structure as the pipeline's BrokerOrder, under our id and symbol.

    ``closed`` is filled; an order canceled or expired after part of it filled is
    filled for that part (the reason says so); a resting order reports the part
    filled so far in ``filled_quantity``. A ``-sl`` / ``-tp`` id is a protective leg of the
    entry it names (its OCO group). ``per``: coins per contract of the market
    (:func:`contract_size`): sizes come back in coins. A triggered OKX algo order
    reports its fill in ``actualSz`` / ``actualPx`` (its ``ordPx`` -1 is "at market").
    """
    info = found.get("info") or {}
    status: OrderStatus = _STATUS.get(str(found.get("status") or "open"), "open")
    side: Side = "sell" if found.get("side") == "sell" else "buy"
    trigger = decimal(found.get("triggerPrice") or found.get("stopPrice"))
    kind = str(found.get("type") or "market")
    order_type: OrderType = "stop" if trigger is not None else \
        "limit" if kind == "limit" else "market" if kind == "market" else "stop"
    amount = (decimal(found.get("amount")) or ZERO) * per
    filled = (decimal(found.get("filled")) or decimal(info.get("actualSz")) or ZERO) * per
    submitted = _moment(found.get("timestamp")) or now
    limit_price = decimal(found.get("price"))
    if limit_price is not None and limit_price <= 0:  # OKX algo ordPx -1: at market
        limit_price = None
    average = decimal(found.get("average")) or decimal(info.get("actualPx")) or \
        limit_price or ZERO
    reason = ""
    if status in ("canceled", "expired") and filled > 0:
        # It ended with part of it filled: that part is what happened.
        reason = f"venue status {found.get('status')} after {filled} of {amount} filled"
        status = "filled"
    elif status not in ("open", "filled"):
        reason = f"venue status {found.get('status')}"
    fill = None
    if status == "filled":
        fee = decimal((found.get("fee") or {}).get("cost")) or ZERO
        fill = Fill(order_id=str(found.get("id") or ""), client_order_id=client_order_id,
                    symbol=symbol, side=side, quantity=filled or amount,
                    average_price=average, fee=abs(fee),
                    filled_at=_moment(found.get("lastTradeTimestamp")) or submitted)
    leg: Leg = "sl" if client_order_id.endswith(LEG_SUFFIXES[0]) else \
        "tp" if client_order_id.endswith(LEG_SUFFIXES[1]) else ""
    return BrokerOrder(
        order_id=str(found.get("id") or ""), client_order_id=client_order_id, symbol=symbol,
        leg=leg, oco_group=entry_order_id(client_order_id) if leg else "",
        side=side, quantity=amount or filled, order_type=order_type, status=status,
        submitted_at=submitted,
        limit_price=limit_price if order_type == "limit" else None,
        stop_price=trigger, reason=reason, fill=fill,
        filled_quantity=filled if status == "open" else (fill.quantity if fill else ZERO),
        average_fill_price=average if filled > 0 else None)


def _moment(millis: Any) -> datetime | None:
    if not isinstance(millis, int | float) or millis <= 0:
        return None
    return datetime.fromtimestamp(millis / 1000, UTC)
