"""TradingView strategy alerts built from ``{{strategy.order.*}}`` placeholders."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, Field, PlainValidator

from contracts.dialects.coerce import choice, optional, positive
from contracts.dialects.fields import (
    MODEL_CONFIG,
    AlertTime,
    OptionalPrice,
    OptionalText,
    Symbol,
    check_value,
    extras_of,
    validate,
)
from contracts.dialects.model import AlertError, ParsedAlert

# The order id is the name given in strategy.entry(); only "long" and "sell"/"short"
# say which side the position is on, and the trade type depends on it.
_ORDER_ID = choice(
    {"long": "long", "sell": "short", "short": "short"},
    hint=" (name the strategy's entries 'long' and 'sell' so the trade type is known)",
)
_SIDE = choice({"buy": "buy", "sell": "sell"})

_TRADE_TYPE = {
    ("long", "buy"): "enter_long",
    ("long", "sell"): "exit_long",
    ("short", "sell"): "enter_short",
    ("short", "buy"): "exit_short",
}


class TradingViewAlert(BaseModel):
    """The strategy alert fields; ``ticker`` is accepted for ``symbol``."""

    model_config = MODEL_CONFIG

    symbol: Symbol = Field(validation_alias=AliasChoices("symbol", "ticker"))
    strategy_order_id: Annotated[str, PlainValidator(_ORDER_ID)]
    strategy_order_action: Annotated[str, PlainValidator(_SIDE)]
    # Read after the trade type is known: entries need it, exits ignore it.
    strategy_order_contracts: Any = None
    strategy_order_price: OptionalPrice = None
    strategy_order_comment: OptionalText = ""
    time: AlertTime = None


def parse(payload: dict[str, Any]) -> ParsedAlert:
    """Validate a TradingView strategy alert and derive its trade type."""
    alert = validate(TradingViewAlert, payload)
    intent = _TRADE_TYPE[(alert.strategy_order_id, alert.strategy_order_action)]
    contracts = alert.strategy_order_contracts
    quantity: Decimal | None
    if intent.startswith("enter"):
        if contracts is None:
            raise AlertError(
                "strategy_order_contracts",
                "strategy_order_contracts: required field is missing (an entry needs a size)",
            )
        quantity = check_value("strategy_order_contracts", positive, contracts)
    else:
        # An exit closes the whole position, so a size it cannot read must not
        # stop it; a usable size is kept for the record.
        quantity = _usable_size(contracts)
    return ParsedAlert(
        dialect="tradingview",
        symbol=alert.symbol,
        intent=intent,
        quantity=quantity,
        price=alert.strategy_order_price,
        comment=alert.strategy_order_comment,
        alert_time=alert.time,
        extras=extras_of(payload, TradingViewAlert),
    )


def _usable_size(contracts: Any) -> Decimal | None:
    try:
        return optional(positive)(contracts)
    except ValueError:
        return None
