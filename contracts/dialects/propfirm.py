"""Prop-firm style alerts: the sender names its tenant, account and bot."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from contracts.dialects.fields import (
    MODEL_CONFIG,
    SWEEPS,
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
from contracts.dialects.model import AlertError, ParsedAlert


class PropFirmAlert(BaseModel):
    """The prop-firm fields; ids are hints that routing checks against the token."""

    model_config = MODEL_CONFIG

    tenant_id: OptionalText = Field("", alias="tenantId")
    account_id: OptionalText = Field("", alias="accountId")
    symbol: OptionalSymbol = ""
    action: Action
    quantity: OptionalPositive = None
    percent: OptionalPercent = None
    order_type: OrderType = Field("market", alias="orderType")
    price: OptionalPrice = None
    stop_loss: OptionalPrice = Field(None, alias="stopLoss")
    take_profit: OptionalPrice = Field(None, alias="takeProfit")
    bot_id: OptionalText = Field("", alias="botId")
    strategy_name: OptionalText = Field("", alias="strategyName")
    signal_id: OptionalText = Field("", alias="signalId")
    scope: OptionalScope = None
    timestamp: AlertTime = None


def parse(payload: dict[str, Any]) -> ParsedAlert:
    """Validate a prop-firm style alert."""
    alert = validate(PropFirmAlert, payload)
    if not (alert.tenant_id or alert.account_id):
        raise AlertError("tenantId",
                         "tenantId: required field is missing (or send accountId)")
    scope = sweep_scope(alert.action, alert.symbol, alert.scope)
    check_exit_fields(alert.action, alert.percent)
    # A close flattens the position (or part of it); buy and sell need to know how much.
    if alert.action not in ("close", *SWEEPS) and alert.quantity is None:
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
        percent=alert.percent,
        scope=scope,  # type: ignore[arg-type]
        extras=extras_of(payload, PropFirmAlert),
    )
