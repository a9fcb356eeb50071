"""The last price the system saw for each symbol (price ticks, alert prices).

One KV bucket for every service: the paper broker marks positions and fills market
orders with it, risk sizes price-less alerts with it, the operator API marks the
account projection with it, so every answer about an account uses the same prices.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from contracts.subjects import token


class MarketPrices:
    """Read and record last prices (bucket ``th_market_prices``)."""

    def __init__(self, kv: KeyValue | None) -> None:
        self.kv = kv

    async def record(self, symbol: str, price: Decimal) -> None:
        """Remember the market's last price of ``symbol``."""
        if self.kv is not None:
            await self.kv.put(token(symbol), str(price).encode())

    async def get(self, symbol: str) -> Decimal | None:
        """The last price recorded for ``symbol``, if any."""
        if self.kv is None:
            return None
        try:
            entry = await self.kv.get(token(symbol))
        except KeyNotFoundError:
            return None
        try:
            return Decimal(entry.value.decode()) if entry.value else None
        except InvalidOperation:
            return None

    async def of(self, symbols: Iterable[str]) -> dict[str, Decimal]:
        """The recorded prices of ``symbols`` (those without one left out)."""
        out: dict[str, Decimal] = {}
        for symbol in symbols:
            price = await self.get(symbol)
            if price is not None:
                out[symbol] = price
        return out
