"""Pure sizing: how many units a signal buys or sells."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from contracts.signals import Signal
from services.registry.models import Strategy


class SizingError(Exception):
    """The signal cannot be sized; the message says why in trading terms."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def round_to_step(quantity: Decimal, step: Decimal) -> Decimal:
    """Round down to the instrument's quantity step (never size up)."""
    if step <= 0:
        return quantity
    return (quantity / step).to_integral_value(rounding=ROUND_DOWN) * step


def entry_quantity(signal: Signal, strategy: Strategy, equity: Decimal,
                   price: Decimal) -> Decimal:
    """Units for an entry under the strategy's sizing mode, rounded to its step."""
    mode = strategy.sizing_mode
    if mode == "percent_equity":
        raw = equity * strategy.percent_of_equity / Decimal(100) / price
    elif mode == "alert_contracts":
        if signal.quantity is None:
            raise SizingError("missing_quantity",
                              "sizing uses the alert's contracts but the alert sent none")
        raw = signal.quantity
    elif mode == "fixed_quantity":
        if strategy.fixed_quantity is None:
            raise SizingError("misconfigured", "fixed_quantity sizing without a quantity")
        raw = strategy.fixed_quantity
    else:
        if strategy.notional is None:
            raise SizingError("misconfigured", "notional sizing without a notional amount")
        raw = strategy.notional / price
    quantity = round_to_step(raw, strategy.quantity_step)
    if quantity <= 0:
        raise SizingError(
            "size_zero",
            f"order size {raw:.8f} rounds to zero at step {strategy.quantity_step}",
        )
    return quantity
