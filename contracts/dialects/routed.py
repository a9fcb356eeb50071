"""Strategy-routed alerts: ``{"strategy": ..., "signal": "BUY"}``.

The strategy name alone picks the account (from configuration), so the payload
carries no account, and the symbol may come from the strategy's configuration too.
``CLOSE_ALL`` / ``CANCEL_ALL`` apply to the symbol when one is sent, else (or with
``scope: account``) to the whole account.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, PlainValidator

from contracts.dialects.coerce import choice
from contracts.dialects.fields import (
    ACTIONS,
    MODEL_CONFIG,
    SWEEPS,
    Confidence,
    OptionalPercent,
    OptionalPositive,
    OptionalPrice,
    OptionalScope,
    OptionalSymbol,
    RequiredText,
    check_exit_fields,
    extras_of,
    validate,
)
from contracts.dialects.model import AlertError, ParsedAlert

_SIGNAL = choice(ACTIONS)


class RoutedAlert(BaseModel):
    """The strategy-routed fields."""

    model_config = MODEL_CONFIG

    strategy: RequiredText
    signal: Annotated[str, PlainValidator(_SIGNAL)]
    confidence: Confidence = None
    symbol: OptionalSymbol = ""
    quantity: OptionalPositive = None
    percent: OptionalPercent = None
    price: OptionalPrice = None
    scope: OptionalScope = None


def parse(payload: dict[str, Any]) -> ParsedAlert:
    """Validate a strategy-routed alert."""
    alert = validate(RoutedAlert, payload)
    check_exit_fields(alert.signal, alert.percent)
    if alert.signal in SWEEPS:
        # No symbol: the whole account, not the strategy's configured symbol.
        scope = alert.scope or ("symbol" if alert.symbol else "account")
    elif alert.scope is not None:
        raise AlertError("scope", f"scope: only for close_all and cancel_all, not {alert.signal}")
    else:
        scope = "symbol"
    return ParsedAlert(
        dialect="routed",
        symbol=alert.symbol,
        intent=alert.signal,
        quantity=alert.quantity,
        price=alert.price,
        strategy_name=alert.strategy,
        confidence=alert.confidence,
        percent=alert.percent,
        scope=scope,  # type: ignore[arg-type]
        extras=extras_of(payload, RoutedAlert),
    )
