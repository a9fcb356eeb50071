"""Exchange-style alerts: an order described field by field (``action``, ``symbol``, ...).

``alertId`` is optional: without it ingress de-duplicates the alert on its exact
body, which holds its ``timestamp`` (so send one: ``{{timenow}}``). ``close`` with a
``quantity`` or a ``percent`` closes that much of the position; ``close_all`` /
``cancel_all`` apply to the symbol, or with no symbol (or ``scope: account``) to
the whole account.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, Field

from contracts.dialects.fields import (
    MODEL_CONFIG,
    Action,
    AlertTime,
    OptionalPercent,
    OptionalPositive,
    OptionalPrice,
    OptionalScope,
    OptionalSymbol,
    OptionalText,
    OrderType,
    check_exit_fields,
    extras_of,
    require_price_for,
    sweep_scope,
    validate,
)
from contracts.dialects.model import ParsedAlert


class ExchangeAlert(BaseModel):
    """The exchange-style fields; ``action`` is required, and ``symbol`` for every
    action but an account-wide sweep (``ticker`` is accepted for ``symbol``, as
    TradingView's ``{{ticker}}``)."""

    model_config = MODEL_CONFIG

    alert_id: OptionalText = Field("", alias="alertId")
    action: Action
    symbol: OptionalSymbol = Field("", validation_alias=AliasChoices("symbol", "ticker"))
    price: OptionalPrice = None
    quantity: OptionalPositive = None
    percent: OptionalPercent = None
    order_type: OrderType = Field("market", alias="orderType")
    stop_loss: OptionalPrice = Field(None, alias="stopLoss")
    take_profit: OptionalPrice = Field(None, alias="takeProfit")
    scope: OptionalScope = None
    timestamp: AlertTime = None


def parse(payload: dict[str, Any]) -> ParsedAlert:
    """Validate an exchange-style alert."""
    alert = validate(ExchangeAlert, payload)
    scope = sweep_scope(alert.action, alert.symbol, alert.scope)
    check_exit_fields(alert.action, alert.percent)
    require_price_for(alert.order_type, alert.price)
    return ParsedAlert(
        dialect="exchange",
        symbol=alert.symbol,
        intent=alert.action,
        quantity=alert.quantity,
        price=alert.price,
        order_type=alert.order_type,
        stop_loss=alert.stop_loss,
        take_profit=alert.take_profit,
        alert_time=alert.timestamp,
        alert_id=alert.alert_id,
        percent=alert.percent,
        scope=scope,  # type: ignore[arg-type]
        extras=extras_of(payload, ExchangeAlert),
    )
