"""Pure risk decision: a validated signal becomes one order request or a refusal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.orders import OrderRequest, Side
from contracts.signals import Signal
from services.brokers.base import AccountSnapshot
from services.registry.models import Strategy
from services.risk.sizing import SizingError, entry_quantity


@dataclass(frozen=True)
class RiskRefusal:
    """A rule refused the signal: which rule, its limit and the offending value."""

    code: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def client_order_id(strategy: Strategy, signal_id: str, received_at: datetime) -> str:
    """``{bot_id}-{timestamp}-{short id}``: deterministic per signal, so retries are safe."""
    return f"{strategy.slug}-{int(received_at.timestamp())}-{signal_id.replace('-', '')[:8]}"


def decide_order(
    signal: Signal, strategy: Strategy, snapshot: AccountSnapshot, coid: str
) -> OrderRequest | RiskRefusal:
    """Size the signal and apply the per-order limits."""
    held = snapshot.position(signal.symbol)
    if signal.intent in ("exit_long", "exit_short", "close"):
        wanted = {"exit_long": "long", "exit_short": "short", "close": "open"}[signal.intent]
        if held == 0 or (wanted == "long" and held < 0) or (wanted == "short" and held > 0):
            return RiskRefusal("no_position",
                               f"no {wanted} position in {signal.symbol} to close",
                               {"position": str(held)})
        return OrderRequest(
            client_order_id=coid, symbol=signal.symbol, side="sell" if held > 0 else "buy",
            quantity=abs(held), intent=signal.intent, reference_price=signal.price,
            close_position=True,
        )
    price = signal.price or snapshot.last_prices.get(signal.symbol)
    if price is None or price <= 0:
        return RiskRefusal("no_price", f"no price for {signal.symbol}: send the alert price")
    try:
        quantity = entry_quantity(signal, strategy, snapshot.equity, price)
    except SizingError as exc:
        return RiskRefusal(exc.code, exc.reason)
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
    side: Side = "buy" if signal.intent in ("enter_long", "buy") else "sell"
    return OrderRequest(
        client_order_id=coid, symbol=signal.symbol, side=side, quantity=quantity,
        intent=signal.intent, order_type=signal.order_type, reference_price=signal.price,
    )
