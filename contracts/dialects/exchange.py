"""Exchange-style alerts: ``alertId`` plus an order described field by field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from contracts.dialects.fields import (
    MODEL_CONFIG,
    Action,
    AlertTime,
    OptionalPositive,
    OptionalPrice,
    OrderType,
    RequiredText,
    Symbol,
    extras_of,
    require_price_for,
    validate,
)
from contracts.dialects.model import ParsedAlert


class ExchangeAlert(BaseModel):
    """The exchange-style fields; only ``alertId``, ``action`` and ``symbol`` are required."""

    model_config = MODEL_CONFIG

    alert_id: RequiredText = Field(alias="alertId")
    action: Action
    symbol: Symbol
    price: OptionalPrice = None
    quantity: OptionalPositive = None
    order_type: OrderType = Field("market", alias="orderType")
    stop_loss: OptionalPrice = Field(None, alias="stopLoss")
    take_profit: OptionalPrice = Field(None, alias="takeProfit")
    timestamp: AlertTime = None


def parse(payload: dict[str, Any]) -> ParsedAlert:
    """Validate an exchange-style alert."""
    alert = validate(ExchangeAlert, payload)
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
        extras=extras_of(payload, ExchangeAlert),
    )
