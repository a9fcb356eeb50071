"""Pure risk decision: a validated signal becomes one order request or a refusal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

import msgspec

from contracts.orders import OrderRequest, Side, Sizing
from contracts.signals import OrderType, Signal
from libs.brokers.base import AccountSnapshot
from libs.brokers.capabilities import Capabilities
from libs.registry.gate import closed
from libs.registry.models import Account, Strategy, Tenant
from services.risk.sizing import SizingError, size_entry, size_exit

ZERO = Decimal(0)


@dataclass(frozen=True)
class RiskRefusal:
    """A rule refused the signal: which rule, its limit and the offending value."""

    code: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def route_gate(tenant: Tenant | None, strategy: Strategy,
               account: Account) -> RiskRefusal | None:
    """Is the route allowed to trade at all right now? (The one gate,
    :func:`libs.registry.gate.closed`, with the account's pause.)"""
    shut = closed(tenant, strategy, account, pause=True)
    return None if shut is None else RiskRefusal(shut.code, shut.reason)


def client_order_id(strategy: Strategy, signal_id: str, received_at: datetime) -> str:
    """``{bot_id}-{timestamp}-{short id}``: deterministic per signal, so retries are safe."""
    return f"{strategy.slug}-{int(received_at.timestamp())}-{signal_id.replace('-', '')[:8]}"


def entry_side(signal: Signal) -> Side:
    """The side an entry signal trades."""
    return "buy" if signal.intent in ("enter_long", "buy") else "sell"


def order_prices(signal: Signal, strategy: Strategy, order_type: OrderType,
                 last: Decimal | None) -> tuple[Decimal | None, Decimal | None] | RiskRefusal:
    """``(limit_price, stop_price)`` for the order type: the alert's price (or the
    last price) moved by the strategy's signed tick offset."""
    if order_type == "market":
        return None, None
    base = signal.price if strategy.use_strategy_order_price and signal.price else last
    if base is None:
        return RiskRefusal("no_price", f"a {order_type} order needs a price for {signal.symbol}")
    price = base + strategy.tick_size * strategy.limit_offset_ticks
    if price <= 0:
        return RiskRefusal("bad_price", f"the {order_type} price {price} is not positive")
    return (price, None) if order_type == "limit" else (None, price)


def decide_exit(signal: Signal, strategy: Strategy, held: Decimal,
                coid: str) -> OrderRequest | RiskRefusal:
    """Close the position ``held`` in the signal's symbol, or part of it.

    The whole position is one ``close_position`` order (flattened at execution,
    whatever its size then). A part (the alert's quantity or ``percent``, see
    ``size_exit``) is a ``reduce_only`` order on the closing side: the broker never
    lets it cross zero. Refused when there is no position on the side to close.
    """
    wanted = {"exit_long": "long", "exit_short": "short", "close": "open"}[signal.intent]
    if held == 0 or (wanted == "long" and held < 0) or (wanted == "short" and held > 0):
        return RiskRefusal("no_position", f"no {wanted} position in {signal.symbol} to close",
                           {"position": str(held)})
    try:
        sizing = size_exit(signal, strategy, abs(held))
    except SizingError as exc:
        return RiskRefusal(exc.code, exc.reason, {"position": str(held)})
    whole = sizing.quantity >= abs(held)
    return OrderRequest(
        client_order_id=coid, symbol=signal.symbol, side="sell" if held > 0 else "buy",
        quantity=sizing.quantity, intent=signal.intent, reference_price=signal.price,
        close_position=whole, reduce_only=not whole, time_in_force=strategy.time_in_force,
        sizing=sizing,
    )


def decide_sweep(signal: Signal, strategy: Strategy, snapshot: AccountSnapshot,
                 coid: str) -> OrderRequest | RiskRefusal:
    """``close_all`` closes the symbol's position, or every position of the account
    (``scope`` account: one order per symbol, listed in ``symbols``); ``cancel_all``
    cancels the resting orders of the symbol or the account. Neither is ever an
    entry, and neither is limited: both only take risk off."""
    account_wide = signal.scope == "account" or not signal.symbol
    symbol = "" if account_wide else signal.symbol
    if signal.intent == "cancel_all":
        return OrderRequest(client_order_id=coid, symbol=symbol, side="sell", quantity=ZERO,
                            intent="cancel_all", time_in_force=strategy.time_in_force)
    held = {s: q for s, q in snapshot.positions.items() if q != 0}
    if not account_wide:
        if symbol not in held:
            return RiskRefusal("no_position", f"no open position in {symbol} to close",
                               {"position": "0"})
        quantity = held[symbol]
        return OrderRequest(client_order_id=coid, symbol=symbol,
                            side="sell" if quantity > 0 else "buy", quantity=abs(quantity),
                            intent="close_all", reference_price=signal.price,
                            close_position=True, time_in_force=strategy.time_in_force)
    if not held:
        return RiskRefusal("no_position", "no open position in the account to close",
                           {"positions": "0"})
    return OrderRequest(client_order_id=coid, symbol="", side="sell", quantity=ZERO,
                        intent="close_all", close_position=True, symbols=sorted(held),
                        time_in_force=strategy.time_in_force)


def venue_sizing(signal: Signal, sizing: Sizing, order_type: OrderType,
                 can: Capabilities) -> Sizing | RiskRefusal:
    """The entry's size as the broker takes it (its declared capabilities).

    A broker without fractional sizes for the asset class gets whole units: a size
    reached from equity or a notional is rounded down (refused when that leaves
    nothing), an alert that asks for a fraction is refused. A broker that takes
    fractions as market orders only refuses a fractional limit or stop order here,
    before any order exists.
    """
    quantity, asset, venue = sizing.quantity, signal.asset_class, can.venue or "the broker"
    whole = quantity == quantity.to_integral_value()
    if not whole and asset not in can.fractional:
        units = quantity.to_integral_value(rounding=ROUND_DOWN)
        if sizing.basis == "alert_quantity" or units <= 0:
            return RiskRefusal("fractional_not_supported",
                               f"{venue} trades whole {asset} units only; the order size "
                               f"{quantity.normalize():f} is a fraction",
                               {"rule": "fractional", "value": str(quantity)})
        return msgspec.structs.replace(
            sizing, quantity=units,
            detail=f"{sizing.detail}, rounded down to whole units ({venue})")
    if not whole and asset in can.fractional_market_only and order_type != "market":
        return RiskRefusal("fractional_not_market",
                           f"{venue} takes fractional {asset} orders as market orders only "
                           f"({quantity.normalize():f} {signal.symbol} as a {order_type} "
                           "order)", {"rule": "fractional", "value": str(quantity)})
    return sizing


def decide_order(
    signal: Signal, strategy: Strategy, snapshot: AccountSnapshot, coid: str,
    capabilities: Capabilities | None = None,
) -> OrderRequest | RiskRefusal:
    """Size the signal and apply the per-order limits.

    Exits close the held position or part of it (``decide_exit``). An entry
    against an open opposite position
    (short entry while long) is a flip: one order that closes it and opens the new
    one, so the two can never be separated. ``capabilities`` (the account's broker)
    shape the entry's size (:func:`venue_sizing`); None leaves it as sized.
    """
    held = snapshot.position(signal.symbol)
    if signal.intent in ("exit_long", "exit_short", "close"):
        return decide_exit(signal, strategy, held, coid)
    if signal.intent in ("close_all", "cancel_all"):
        return decide_sweep(signal, strategy, snapshot, coid)
    last = snapshot.last_prices.get(signal.symbol)
    price = signal.price or last
    if price is None or price <= 0:
        return RiskRefusal("no_price", f"no price for {signal.symbol}: send the alert price")
    try:
        sizing = size_entry(signal, strategy, snapshot.equity, price)
    except SizingError as exc:
        return RiskRefusal(exc.code, exc.reason)
    order_type: OrderType = strategy.order_type_for(signal.order_type)
    if capabilities is not None:
        shaped = venue_sizing(signal, sizing, order_type, capabilities)
        if isinstance(shaped, RiskRefusal):
            return shaped
        sizing = shaped
    quantity = sizing.quantity
    limit_q = strategy.max_order_quantity
    if limit_q is not None and quantity > limit_q:
        return RiskRefusal("max_order_quantity",
                           f"order of {quantity} exceeds the maximum of {limit_q} units",
                           {"rule": "max_order_quantity", "limit": str(limit_q),
                            "value": str(quantity)})
    notional = quantity * price
    limit_n = strategy.max_order_notional
    if limit_n is not None and notional > limit_n:
        return RiskRefusal("max_order_notional",
                           f"order value {notional:.2f} exceeds the maximum of {limit_n}",
                           {"rule": "max_order_notional", "limit": str(limit_n),
                            "value": f"{notional:.2f}"})
    prices = order_prices(signal, strategy, order_type, last)
    if isinstance(prices, RiskRefusal):
        return prices
    side = entry_side(signal)
    opposite = (held < 0) if side == "buy" else (held > 0)
    close_quantity = abs(held) if opposite else ZERO
    return OrderRequest(
        client_order_id=coid, symbol=signal.symbol, side=side,
        quantity=quantity + close_quantity, close_quantity=close_quantity,
        intent=signal.intent, order_type=order_type, reference_price=signal.price,
        limit_price=prices[0], stop_price=prices[1],
        # Brokers take dollar amounts for market day orders only.
        notional=strategy.notional
        if strategy.sizing_mode == "notional" and not opposite and order_type == "market"
        and strategy.time_in_force == "day" else None,
        time_in_force=strategy.time_in_force,
        take_profit_price=signal.take_profit, stop_loss_price=signal.stop_loss,
        sizing=sizing,
    )
