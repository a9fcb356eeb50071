"""Prop-firm style alerts: the sender names its tenant, account and bot."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from contracts.dialects.fields import (
    MODEL_CONFIG,
    Action,
    AlertTime,
    OptionalPositive,
    OptionalPrice,
    OptionalText,
    OrderType,
    Symbol,
    extras_of,
    require_price_for,
    validate,
)
from contracts.dialects.model import AlertError, ParsedAlert


class PropFirmAlert(BaseModel):
    """The prop-firm fields; ids are hints that routing checks against the token."""

    model_config = MODEL_CONFIG

    tenant_id: OptionalText = Field("", alias="tenantId")
    account_id: OptionalText = Field("", alias="accountId")
    symbol: Symbol
    action: Action
    quantity: OptionalPositive = None
    order_type: OrderType = Field("market", alias="orderType")
    price: OptionalPrice = None
    stop_loss: OptionalPrice = Field(None, alias="stopLoss")
    take_profit: OptionalPrice = Field(None, alias="takeProfit")
    bot_id: OptionalText = Field("", alias="botId")
    strategy_name: OptionalText = Field("", alias="strategyName")
    signal_id: OptionalText = Field("", alias="signalId")
    timestamp: AlertTime = None


def parse(payload: dict[str, Any]) -> ParsedAlert:
    """Validate a prop-firm style alert."""
    alert = validate(PropFirmAlert, payload)
    if not (alert.tenant_id or alert.account_id):
        raise AlertError("tenantId", "tenantId/accountId: at least one must be set")
    # A close flattens the position; buy and sell need to know how much.
    if alert.action != "close" and alert.quantity is None:
        raise AlertError("quantity", f"quantity: required field is missing for {alert.action}")
    require_price_for(alert.order_type, alert.price)
    return ParsedAlert(
        dialect="propfirm",
        symbol=alert.symbol,
        intent=alert.action,
        quantity=alert.quantity,
        price=alert.price,
        order_type=alert.order_type,
        stop_loss=alert.stop_loss,
        take_profit=alert.take_profit,
        alert_time=alert.timestamp,
        alert_id=alert.signal_id,
        strategy_name=alert.strategy_name,
        tenant_hint=alert.tenant_id,
        account_hint=alert.account_id,
        bot_id=alert.bot_id,
        extras=extras_of(payload, PropFirmAlert),
    )
