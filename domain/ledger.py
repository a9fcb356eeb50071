"""Pure account maths: cash, positions with average price, realised P&L.

Shared by the paper broker (which decides fills) and the account projection (which
replays them), so both always agree to the last decimal.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

import msgspec

ZERO = Decimal(0)


class Position(msgspec.Struct, kw_only=True):
    """Signed quantity (negative = short) and the average entry price."""

    quantity: Decimal = ZERO
    average_price: Decimal = ZERO


class Book(msgspec.Struct, kw_only=True):
    """Cash, open positions and realised P&L of one account."""

    currency: str = "USD"
    cash: Decimal = ZERO
    realised_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO
    positions: dict[str, Position] = {}
    last_prices: dict[str, Decimal] = {}
    fills: int = 0

    def equity(self) -> Decimal:
        """Cash plus every position marked at its last known price."""
        marked = sum(
            (pos.quantity * self.last_prices.get(sym, pos.average_price)
             for sym, pos in self.positions.items()),
            ZERO,
        )
        return self.cash + marked

    def unrealised_pnl(self) -> Decimal:
        """Open positions marked at their last price, against their average price."""
        return sum(
            ((self.last_prices.get(sym, pos.average_price) - pos.average_price) * pos.quantity
             for sym, pos in self.positions.items()),
            ZERO,
        )

    def position_quantity(self, symbol: str) -> Decimal:
        """Signed quantity held in ``symbol`` (0 when flat)."""
        pos = self.positions.get(symbol)
        return pos.quantity if pos else ZERO


def marked(book: Book, market: Mapping[str, Decimal]) -> Book:
    """``book`` with its positions marked at the market's last prices (the one way
    every answer about an account values it: the broker snapshot, the account API and
    the status API agree for the same moment). Symbols without a market price keep
    the book's own last price (its last fill)."""
    prices = dict(book.last_prices)
    prices.update({s: p for s, p in market.items() if s in book.positions and p > 0})
    return Book(currency=book.currency, cash=book.cash, realised_pnl=book.realised_pnl,
                fees_paid=book.fees_paid, positions=book.positions, last_prices=prices,
                fills=book.fills)


def apply_fill(
    book: Book, symbol: str, side: Literal["buy", "sell"], quantity: Decimal,
    price: Decimal, fee: Decimal = ZERO,
) -> Decimal:
    """Apply one fill to ``book`` in place; returns the P&L it realised.

    Buying reduces cash and sells add to it; fees always reduce cash. Reducing or
    flipping a position realises P&L against the average price; adding to it moves
    the average price.
    """
    signed = quantity if side == "buy" else -quantity
    pos = book.positions.get(symbol) or Position()
    realised = ZERO
    old = pos.quantity
    if old == 0 or (old > 0) == (signed > 0):
        total = old + signed
        pos.average_price = (old * pos.average_price + signed * price) / total
        pos.quantity = total
    else:
        closing = min(abs(signed), abs(old))
        direction = Decimal(1) if old > 0 else Decimal(-1)
        realised = (price - pos.average_price) * closing * direction
        remaining = old + signed
        if remaining == 0:
            pos = Position()
        elif (remaining > 0) == (old > 0):
            pos.quantity = remaining
        else:  # flipped: the rest opens a new position at this price
            pos = Position(quantity=remaining, average_price=price)
    book.cash -= signed * price + fee
    book.realised_pnl += realised
    book.fees_paid += fee
    book.last_prices[symbol] = price
    book.fills += 1
    if pos.quantity == 0:
        book.positions.pop(symbol, None)
    else:
        book.positions[symbol] = pos
    return realised
