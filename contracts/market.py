"""Market prices: inputs for the paper broker, on the MARKET stream (not audited)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec

# Every price the system accepts is above 0 and below this: a larger one is a typo or
# an attack (``1e400``) that would poison equity and every order sized from it.
MAX_PRICE = Decimal(10) ** 12


def price_problem(price: Decimal) -> str:
    """Why ``price`` cannot be a market price ("" when it can)."""
    if not price.is_finite():
        return f"must be a finite number, got {price}"
    if price <= 0:
        return f"must be greater than 0, got {price}"
    if price >= MAX_PRICE:
        return f"must be below 10^12, got {price}"
    return ""


class PriceTick(msgspec.Struct, frozen=True, kw_only=True):
    """A market price observation (a feed, a test, or the price an alert carried).

    A price outside (0, 10^12) is refused when the tick is made or decoded, so a
    tick published straight to NATS is parked as a dead letter, never applied.
    """

    symbol: str
    price: Decimal
    observed_at: datetime
    source: str = "api"

    def __post_init__(self) -> None:
        problem = price_problem(self.price)
        if problem:
            raise ValueError(f"price: {problem}")


_decoder = msgspec.json.Decoder(PriceTick)
_encoder = msgspec.json.Encoder(decimal_format="string")


def decode_tick(data: bytes) -> PriceTick:
    """Parse a tick (raises msgspec.DecodeError, which parks it as a dead letter)."""
    return _decoder.decode(data)


def encode_tick(tick: PriceTick) -> bytes:
    """Serialise a tick for ``market.price.<symbol>``."""
    return _encoder.encode(tick)
