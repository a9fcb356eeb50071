"""Market prices: inputs for the paper broker, on the MARKET stream (not audited)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec


class PriceTick(msgspec.Struct, frozen=True, kw_only=True):
    """A market price observation (a feed, a test, or the price an alert carried)."""

    symbol: str
    price: Decimal
    observed_at: datetime
    source: str = "api"


_decoder = msgspec.json.Decoder(PriceTick)
_encoder = msgspec.json.Encoder(decimal_format="string")


def decode_tick(data: bytes) -> PriceTick:
    """Parse a tick (raises msgspec.DecodeError, which parks it as a dead letter)."""
    return _decoder.decode(data)


def encode_tick(tick: PriceTick) -> bytes:
    """Serialise a tick for ``market.price.<symbol>``."""
    return _encoder.encode(tick)
