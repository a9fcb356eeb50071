"""Pure pre-trade limits: does this order fit the strategy's risk configuration?

Each check returns None or a RiskRefusal naming the rule, the limit and the value
that broke it. Positions are the broker's plus the orders decided but not yet
filled (the ledger's reservations), so back-to-back signals see each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from contracts.orders import OrderRequest
from contracts.signals import Signal
from libs.brokers.base import AccountSnapshot
from libs.brokers.capabilities import Capabilities
from libs.registry.models import Strategy
from services.risk.ledger import RiskLedger
from services.risk.rules import RiskRefusal

ZERO = Decimal(0)
HUNDRED = Decimal(100)
# Intents that only take risk off, whatever the limits.
SWEEPS = frozenset({"close_all", "cancel_all"})


def trading_day(now: datetime, timezone: str) -> str:
    """The calendar day in the strategy's zone, e.g. ``2026-11-23``."""
    return now.astimezone(ZoneInfo(timezone)).date().isoformat()


def refusal(rule: str, message: str, limit: object, value: object) -> RiskRefusal:
    """A refusal with the details every limit reports."""
    return RiskRefusal(rule, message, {"rule": rule, "limit": str(limit), "value": str(value)})


@dataclass(frozen=True)
class Exposure:
    """The account as risk sees it: broker positions plus pending orders."""

    positions: dict[str, Decimal]
    prices: dict[str, Decimal]
    equity: Decimal

    @classmethod
    def of(cls, snapshot: AccountSnapshot, ledger: RiskLedger) -> Exposure:
        """Combine the broker's snapshot with the ledger's reservations."""
        positions = dict(snapshot.positions)
        prices = dict(snapshot.last_prices)
        for coid, reservation in ledger.pending.items():
            if coid in snapshot.recent_fills:
                continue  # filled: the broker's position has it already
            positions[reservation.symbol] = (positions.get(reservation.symbol, ZERO)
                                             + reservation.open_quantity())
            if reservation.signed_quantity:
                prices.setdefault(reservation.symbol,
                                  abs(reservation.notional / reservation.signed_quantity))
        return cls({s: q for s, q in positions.items() if q != 0}, prices, snapshot.equity)

    def gross(self) -> Decimal:
        """Sum of the absolute value of every position."""
        return sum((abs(q) * self.prices.get(s, ZERO) for s, q in self.positions.items()), ZERO)


def order_notional(order: OrderRequest, price: Decimal) -> Decimal:
    """Value of the order at ``price`` (its dollar amount for notional orders)."""
    return order.notional if order.notional is not None else order.quantity * price


def check_limits(signal: Signal, order: OrderRequest, strategy: Strategy, exposure: Exposure,
                 ledger: RiskLedger, price: Decimal,
                 capabilities: Capabilities | None = None) -> RiskRefusal | None:
    """Every configured limit, cheapest first; exits pass (they reduce risk), partial
    ones (``reduce_only``) too. ``capabilities`` (the account's broker) add the
    venue's own limits: a partial exit needs reduce-only exits, new exposure stays
    within the venue's declared ``max_leverage``."""
    if capabilities is not None and order.reduce_only and not capabilities.reduce_only:
        venue = capabilities.venue or "the broker"
        return refusal("reduce_only", f"{venue} cannot keep a partial exit from crossing "
                       "zero; close the whole position instead", "reduce-only exits", "none")
    if order.close_position or order.reduce_only or order.intent in SWEEPS:
        return None
    if capabilities is not None and capabilities.max_leverage is not None:
        venue_cap = Limits(max_leverage=capabilities.max_leverage, venue=capabilities.venue)
        if (found := _leverage(venue_cap, order, exposure, price)) is not None:
            return found
    symbol = order.symbol
    notional = order_notional(order, price)
    if strategy.allowed_symbols and symbol not in {s.upper() for s in strategy.allowed_symbols}:
        return refusal("allowed_symbols", f"{symbol} is not among the strategy's symbols",
                       ",".join(strategy.allowed_symbols), symbol)
    if (found := _stops(signal, strategy, order, price)) is not None:
        return found
    if strategy.min_order_quantity is not None and order.quantity < strategy.min_order_quantity:
        return refusal("min_order_quantity",
                       f"order of {order.quantity} is below the minimum of "
                       f"{strategy.min_order_quantity} units",
                       strategy.min_order_quantity, order.quantity)
    if strategy.min_order_notional is not None and notional < strategy.min_order_notional:
        return refusal("min_order_notional",
                       f"order value {notional:.2f} is below the minimum of "
                       f"{strategy.min_order_notional}",
                       strategy.min_order_notional, f"{notional:.2f}")
    if (found := _daily(strategy, ledger, notional)) is not None:
        return found
    if (found := _drawdown(strategy, ledger, exposure.equity)) is not None:
        return found
    return _exposure(strategy, order, exposure, price, notional)


def stop_will_rest(signal: Signal, strategy: Strategy) -> bool:
    """Will a stop-loss rest after this entry fills? The alert's own ``stopLoss``, or
    the strategy's stop leg (``attach_sl_tp`` with ``sl_pct``)."""
    return signal.stop_loss is not None or (strategy.attach_sl_tp and
                                            strategy.sl_pct is not None)


def _stops(signal: Signal, strategy: Strategy, order: OrderRequest,
           price: Decimal) -> RiskRefusal | None:
    """``require_stop_loss`` holds only when a stop will really rest after the fill,
    and an alert's stop-loss / take-profit must sit on the protective side of the
    price (a stop above a long's price would fill at once)."""
    if strategy.require_stop_loss and not stop_will_rest(signal, strategy):
        return refusal("require_stop_loss",
                       "the strategy requires a stop-loss on every entry: send stopLoss in "
                       "the alert, or attach the strategy's own (attach_sl_tp with sl_pct)",
                       True, None)
    price = signal.price or price  # the alert's own price, where the entry is expected
    if price <= 0:
        return None
    long = order.side == "buy"
    if signal.stop_loss is not None and (signal.stop_loss >= price if long
                                         else signal.stop_loss <= price):
        where = "below" if long else "above"
        return refusal("invalid_stop_loss",
                       f"stopLoss {signal.stop_loss} must be {where} the entry price {price} "
                       f"of a {'long' if long else 'short'} entry",
                       f"{where} {price}", signal.stop_loss)
    if signal.take_profit is not None and (signal.take_profit <= price if long
                                           else signal.take_profit >= price):
        where = "above" if long else "below"
        return refusal("invalid_take_profit",
                       f"takeProfit {signal.take_profit} must be {where} the entry price "
                       f"{price} of a {'long' if long else 'short'} entry",
                       f"{where} {price}", signal.take_profit)
    return None


def _daily(strategy: Strategy, ledger: RiskLedger, notional: Decimal) -> RiskRefusal | None:
    if strategy.daily_order_limit is not None and ledger.orders_today + 1 > \
            strategy.daily_order_limit:
        return refusal("daily_order_limit",
                       f"the daily limit of {strategy.daily_order_limit} orders is reached",
                       strategy.daily_order_limit, ledger.orders_today + 1)
    spent = ledger.notional_today
    if strategy.daily_notional_limit is not None and spent + notional > \
            strategy.daily_notional_limit:
        return refusal("daily_notional_limit",
                       f"today's orders would total {spent + notional:.2f}, over the daily "
                       f"limit of {strategy.daily_notional_limit}",
                       strategy.daily_notional_limit, f"{spent + notional:.2f}")
    return None


def _drawdown(strategy: Strategy, ledger: RiskLedger, equity: Decimal) -> RiskRefusal | None:
    start = ledger.day_start_equity
    if strategy.max_drawdown_pct is None or not start or start <= 0:
        return None
    drawdown = (start - equity) / start * HUNDRED
    # Reaching the maximum drawdown is what stops trading (unlike size limits,
    # which allow an order exactly at the limit).
    if drawdown >= strategy.max_drawdown_pct:
        return refusal("max_drawdown_pct",
                       f"equity is down {drawdown:.2f}% today (from {start:.2f}); new entries "
                       f"stop at {strategy.max_drawdown_pct}%",
                       strategy.max_drawdown_pct, f"{drawdown:.2f}")
    return None


def _exposure(strategy: Strategy, order: OrderRequest, exposure: Exposure, price: Decimal,
              notional: Decimal) -> RiskRefusal | None:
    symbol = order.symbol
    held = exposure.positions.get(symbol, ZERO)
    signed = order.quantity if order.side == "buy" else -order.quantity
    after = held + signed
    if strategy.max_position_quantity is not None and abs(after) > strategy.max_position_quantity:
        return refusal("max_position_quantity",
                       f"the position in {symbol} would be {after}, over the maximum of "
                       f"{strategy.max_position_quantity}",
                       strategy.max_position_quantity, abs(after))
    if strategy.max_position_notional is not None and \
            abs(after) * price > strategy.max_position_notional:
        return refusal("max_position_notional",
                       f"the position in {symbol} would be worth {abs(after) * price:.2f}, "
                       f"over the maximum of {strategy.max_position_notional}",
                       strategy.max_position_notional, f"{abs(after) * price:.2f}")
    opens_symbol = held == 0 and after != 0
    if strategy.max_open_positions is not None and opens_symbol and \
            len(exposure.positions) + 1 > strategy.max_open_positions:
        return refusal("max_open_positions",
                       f"{len(exposure.positions)} positions are open; the maximum is "
                       f"{strategy.max_open_positions}",
                       strategy.max_open_positions, len(exposure.positions) + 1)
    if strategy.max_leverage is not None:
        return _leverage(Limits(max_leverage=strategy.max_leverage), order, exposure, price)
    return None


@dataclass(frozen=True)
class Limits:
    """A leverage cap and whose it is: the strategy's (no ``venue``) or the venue's."""

    max_leverage: Decimal
    venue: str = ""


def _leverage(cap: Limits, order: OrderRequest, exposure: Exposure,
              price: Decimal) -> RiskRefusal | None:
    """Gross exposure after the order against ``cap`` times equity."""
    rule = "venue_max_leverage" if cap.venue else "max_leverage"
    whose = f"{cap.venue}'s maximum" if cap.venue else "the maximum"
    if exposure.equity <= 0:
        return refusal(rule, "equity is not positive: no new exposure", cap.max_leverage,
                       "unbounded")
    symbol = order.symbol
    held = exposure.positions.get(symbol, ZERO)
    after = held + (order.quantity if order.side == "buy" else -order.quantity)
    # The symbol's whole position is valued at the order's price after the order.
    held_value = abs(held) * exposure.prices.get(symbol, ZERO)
    gross_after = exposure.gross() - held_value + abs(after) * price
    leverage = gross_after / exposure.equity
    if leverage > cap.max_leverage:
        return refusal(rule, f"gross exposure would be {leverage:.2f}x equity; {whose} is "
                       f"{cap.max_leverage}x", cap.max_leverage, f"{leverage:.2f}")
    return None
