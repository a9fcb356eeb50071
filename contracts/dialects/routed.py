"""Strategy-routed alerts: ``{"strategy": ..., "signal": "BUY"}``.

The strategy name alone picks the account (from configuration), so the payload
carries no account, and the symbol may come from the strategy's configuration too.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, PlainValidator

from contracts.dialects.coerce import choice
from contracts.dialects.fields import (
    MODEL_CONFIG,
    Confidence,
    OptionalPositive,
    OptionalPrice,
    OptionalSymbol,
    RequiredText,
    extras_of,
    validate,
)
from contracts.dialects.model import ParsedAlert

_SIGNAL = choice({"buy": "buy", "sell": "sell", "close": "close"})


class RoutedAlert(BaseModel):
    """The strategy-routed fields."""

    model_config = MODEL_CONFIG

    strategy: RequiredText
    signal: Annotated[str, PlainValidator(_SIGNAL)]
    confidence: Confidence = None
    symbol: OptionalSymbol = ""
    quantity: OptionalPositive = None
    price: OptionalPrice = None


def parse(payload: dict[str, Any]) -> ParsedAlert:
    """Validate a strategy-routed alert."""
    alert = validate(RoutedAlert, payload)
    return ParsedAlert(
        dialect="routed",
        symbol=alert.symbol,
        intent=alert.signal,
        quantity=alert.quantity,
        price=alert.price,
        strategy_name=alert.strategy,
        confidence=alert.confidence,
        extras=extras_of(payload, RoutedAlert),
    )
