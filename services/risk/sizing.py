"""Pure sizing: how many units a signal buys or sells, and how that was reached."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from contracts.orders import Sizing
from contracts.signals import Signal
from libs.registry.models import Strategy

HUNDRED = Decimal(100)
_SNAP = Decimal("1e-12")


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


def _raw_entry(signal: Signal, strategy: Strategy, equity: Decimal,
               price: Decimal) -> tuple[str, Decimal, str]:
    """(basis, unrounded quantity, arithmetic) under the strategy's sizing mode."""
    mode = strategy.sizing_mode
    if (mode == "auto" and signal.quantity is not None) or mode == "alert_contracts":
        if signal.quantity is None:
            raise SizingError("missing_quantity",
                              "sizing uses the alert's contracts but the alert sent none")
        return "alert_quantity", signal.quantity, f"the alert's quantity {signal.quantity}"
    if mode in ("auto", "percent_equity"):
        percent = strategy.percent_of_equity
        return ("percent_equity", equity * percent / HUNDRED / price,
                f"{percent} % of equity {equity} at {price}")
    if mode == "fixed_quantity":
        if strategy.fixed_quantity is None:
            raise SizingError("misconfigured", "fixed_quantity sizing without a quantity")
        return "fixed_quantity", strategy.fixed_quantity, \
            f"the strategy's fixed quantity {strategy.fixed_quantity}"
    if strategy.notional is None:
        raise SizingError("misconfigured", "notional sizing without a notional amount")
    return "notional", strategy.notional / price, f"{strategy.notional} at {price}"


def size_entry(signal: Signal, strategy: Strategy, equity: Decimal,
               price: Decimal) -> Sizing:
    """The size of an entry under the strategy's sizing mode, rounded down to its
    step, with the basis it came from.

    ``auto`` takes the alert's explicit quantity when it carries one (prop-firm and
    exchange ``quantity``, TradingView ``strategy_order_contracts``), else
    ``percent_of_equity`` of equity at ``price``.
    """
    basis, raw, detail = _raw_entry(signal, strategy, equity, price)
    quantity = round_to_step(raw, strategy.quantity_step)
    if quantity <= 0:
        raise SizingError(
            "size_zero",
            f"order size {raw:.8f} rounds to zero at step {strategy.quantity_step}",
        )
    if quantity != raw:
        detail += f", rounded down to step {strategy.quantity_step}"
    return Sizing(mode=strategy.sizing_mode, basis=basis, quantity=quantity, detail=detail)


def entry_quantity(signal: Signal, strategy: Strategy, equity: Decimal,
                   price: Decimal) -> Decimal:
    """Units for an entry under the strategy's sizing mode, rounded to its step."""
    return size_entry(signal, strategy, equity, price).quantity


def alert_units_are_ours(signal: Signal, strategy: Strategy) -> bool:
    """Whether the alert's quantity counts in the account's units.

    Exchange, prop-firm and routed senders talk to us: their quantity is ours.
    TradingView counts in its own strategy's contracts, which are ours only when
    the strategy sizes entries from them (``auto``, ``alert_contracts``): closing "1
    contract" of 52 shares bought as 2 % of equity would be a surprise.
    """
    return signal.dialect != "tradingview" or strategy.sizing_mode in ("auto",
                                                                       "alert_contracts")


def size_exit(signal: Signal, strategy: Strategy, position: Decimal) -> Sizing:
    """How much of ``position`` (the absolute size held, > 0) an exit closes.

    ``percent`` of the position when the signal carries one; else the alert's
    quantity when it counts in our units (never more than held); else all of it.
    A part is rounded down to the strategy's step; a part that reaches the whole
    position is the whole position.
    """
    mode, step = strategy.sizing_mode, strategy.quantity_step
    if signal.percent is not None:
        # Snap away the last digits of a percent such as 5/37 (13.5135...%), so 37 x it
        # closes 5, not 4.9999.
        basis = "percent_of_position"
        raw = (position * signal.percent / HUNDRED).quantize(_SNAP, rounding=ROUND_HALF_EVEN)
        detail = f"{signal.percent} % of the position {position}"
    elif signal.quantity is not None and alert_units_are_ours(signal, strategy):
        basis, raw = "alert_quantity", min(signal.quantity, position)
        detail = f"the alert's quantity {signal.quantity} of the position {position}"
    else:
        detail = "the whole position"
        if signal.quantity is not None:
            detail += (f" (TradingView's quantity {signal.quantity} counts its own "
                       f"contracts, not this strategy's {mode} sizing; send "
                       "strategy_prev_market_position_size to close a part)")
        return Sizing(mode=mode, basis="position", quantity=position, detail=detail)
    quantity = round_to_step(raw, step)
    if quantity >= position:
        return Sizing(mode=mode, basis=basis, quantity=position,
                      detail=f"{detail}: all of it")
    if quantity <= 0:
        raise SizingError("size_zero", f"closing {raw:.8f} rounds to zero at step {step}")
    if quantity != raw:
        detail += f", rounded down to step {step}"
    return Sizing(mode=mode, basis=basis, quantity=quantity, detail=detail)
