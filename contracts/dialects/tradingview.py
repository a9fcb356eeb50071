"""TradingView strategy alerts built from ``{{strategy.*}}`` placeholders.

Two forms. **Target position** (recommended): ``strategy_market_position``
(``{{strategy.market_position}}``: long/short/flat after the order), optionally
``strategy_prev_market_position`` and the sizes, decide the trade from where the
position goes, so any Pine order id ("Long Entry", "TP1") works:

- flat after the order: an exit that closes the whole position;
- long after a buy (short after a sell): an entry — adding to the position, opening
  it, or a flip from the other side; it opens ``min(contracts, new size)`` on the new
  side (a flip's contracts also cover the closed side);
- long after a sell (short after a buy): a partial exit of ``contracts``; with the
  position sizes it also carries the fraction closed (``percent``), which risk
  applies to our own position whatever units TradingView sized in.

**Order id** (older): ``strategy_order_id`` must be ``long`` or ``sell``/``short``
and with ``strategy_order_action`` gives the trade type; exits carry the contracts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, Field, PlainValidator

from contracts.dialects.coerce import choice, optional, positive
from contracts.dialects.fields import (
    MODEL_CONFIG,
    AlertTime,
    OptionalNonNegative,
    OptionalNumber,
    OptionalPrice,
    OptionalText,
    Symbol,
    check_value,
    extras_of,
    validate,
)
from contracts.dialects.model import AlertError, ParsedAlert

HUNDRED = Decimal(100)
# The order id is the name given in strategy.entry(); only "long" and "sell"/"short"
# say which side the position is on, and the trade type depends on it.
_ORDER_ID = choice(
    {"long": "long", "sell": "short", "short": "short"},
    hint=" (or send \"strategy_market_position\": \"{{strategy.market_position}}\", "
         "then any order id works)",
)
_SIDE = choice({"buy": "buy", "sell": "sell"})
_POSITION = choice({"long": "long", "short": "short", "flat": "flat"})
OptionalPosition = Annotated[str | None, PlainValidator(optional(_POSITION))]

_TRADE_TYPE = {
    ("long", "buy"): "enter_long",
    ("long", "sell"): "exit_long",
    ("short", "sell"): "enter_short",
    ("short", "buy"): "exit_short",
}
# The side an order moves the position towards.
_TOWARDS = {"buy": "long", "sell": "short"}


class TradingViewAlert(BaseModel):
    """The strategy alert fields; ``ticker`` is accepted for ``symbol``."""

    model_config = MODEL_CONFIG

    symbol: Symbol = Field(validation_alias=AliasChoices("symbol", "ticker"))
    # Read once the form is known: the order id form needs it, the target form not.
    strategy_order_id: Any = None
    strategy_order_action: Annotated[str, PlainValidator(_SIDE)]
    # Read after the trade type is known: entries need it, exits may ignore it.
    strategy_order_contracts: Any = None
    strategy_order_price: OptionalPrice = None
    strategy_order_comment: OptionalText = ""
    strategy_market_position: OptionalPosition = None
    strategy_prev_market_position: OptionalPosition = None
    strategy_market_position_size: OptionalNonNegative = None
    strategy_prev_market_position_size: OptionalNonNegative = None
    strategy_position_size: OptionalNumber = None  # signed: negative when short
    time: AlertTime = None


def parse(payload: dict[str, Any]) -> ParsedAlert:
    """Validate a TradingView strategy alert and derive its trade type."""
    alert = validate(TradingViewAlert, payload)
    if alert.strategy_market_position is not None:
        intent, quantity, percent = _from_target(alert)
    else:
        intent, quantity = _from_order_id(alert)
        percent = None
    return ParsedAlert(
        dialect="tradingview",
        symbol=alert.symbol,
        intent=intent,
        quantity=quantity,
        price=alert.strategy_order_price,
        comment=alert.strategy_order_comment,
        alert_time=alert.time,
        percent=percent,
        extras=extras_of(payload, TradingViewAlert),
    )


def _from_order_id(alert: TradingViewAlert) -> tuple[str, Decimal | None]:
    if alert.strategy_order_id is None:
        raise AlertError(
            "strategy_order_id",
            "strategy_order_id: required field is missing (or send "
            "\"strategy_market_position\": \"{{strategy.market_position}}\")")
    order_id = check_value("strategy_order_id", _ORDER_ID, alert.strategy_order_id)
    intent = _TRADE_TYPE[(order_id, alert.strategy_order_action)]
    if intent.startswith("enter"):
        return intent, _entry_contracts(alert.strategy_order_contracts)
    # An exit of the order id form says nothing of what is left: a size it cannot
    # read must not stop it, a usable one is how much to close.
    return intent, _usable_size(alert.strategy_order_contracts)


def _from_target(alert: TradingViewAlert) -> tuple[str, Decimal | None, Decimal | None]:
    """(intent, quantity, percent of the position closed) from the target position."""
    after, before = alert.strategy_market_position, alert.strategy_prev_market_position
    assert after is not None  # the target form is chosen by it
    action = alert.strategy_order_action
    if after == "flat":
        if before == "flat":
            raise AlertError("strategy_market_position",
                             "strategy_market_position: flat before and after the order: "
                             "nothing to trade")
        closed = {"sell": "long", "buy": "short"}[action]
        _agree(before, closed, action)
        return f"exit_{closed}", None, None  # flat: the whole position, whatever its size
    if _TOWARDS[action] == after:
        return f"enter_{after}", _opened(alert, after, before), None
    # Still on the same side after trading against it: part of it was closed.
    _agree(before, after, action)
    contracts, percent = _partly_closed(alert)
    return f"exit_{after}", contracts, percent


def _opened(alert: TradingViewAlert, after: str, before: str | None) -> Decimal:
    """What an entry opens on side ``after``: a flip's contracts also closed the
    other side, so never more than the new position."""
    new_size = _new_size(alert)
    previous = alert.strategy_prev_market_position_size
    if new_size is not None and new_size > 0:
        sent = _usable_size(alert.strategy_order_contracts)
        return new_size if sent is None else min(sent, new_size)
    contracts = _entry_contracts(alert.strategy_order_contracts)
    if before == _opposite(after) and previous is not None:
        if contracts <= previous:
            raise AlertError("strategy_order_contracts",
                             "strategy_order_contracts: a flip must trade more than the "
                             "previous position (strategy_prev_market_position_size)")
        return contracts - previous
    return contracts


def _partly_closed(alert: TradingViewAlert) -> tuple[Decimal, Decimal | None]:
    """(contracts closed, percent of the position they were) of a partial exit."""
    new_size = _new_size(alert)
    previous = alert.strategy_prev_market_position_size
    contracts = _usable_size(alert.strategy_order_contracts)
    if contracts is None and previous is not None and new_size is not None \
            and previous > new_size:
        contracts = previous - new_size
    if contracts is None:
        raise AlertError("strategy_order_contracts",
                         "strategy_order_contracts: required field is missing (a partial "
                         "exit must say how much it closes)")
    if previous is None and new_size is not None:
        previous = new_size + contracts
    if previous is None or previous <= 0:
        return contracts, None
    return contracts, min(contracts / previous * HUNDRED, HUNDRED)


def _new_size(alert: TradingViewAlert) -> Decimal | None:
    """The unsigned position size after the order, checked against its direction."""
    size = alert.strategy_market_position_size
    signed = alert.strategy_position_size
    after = alert.strategy_market_position
    if signed is not None:
        sign = {"long": 1, "short": -1, "flat": 0}[after or "flat"]
        if (signed > 0) - (signed < 0) != sign:
            raise AlertError("strategy_position_size",
                             f"strategy_position_size: {signed} does not agree with "
                             f"strategy_market_position '{after}'")
        if size is None:
            size = abs(signed)
    return size


def _agree(before: str | None, side: str, action: str) -> None:
    """A trade that reduces ``side`` must come from ``side``."""
    if before is not None and before != side:
        raise AlertError("strategy_prev_market_position",
                         f"strategy_prev_market_position: a {action} that leaves the "
                         f"position {side} or flat cannot start from '{before}'")


def _opposite(side: str) -> str:
    return {"long": "short", "short": "long"}[side]


def _entry_contracts(contracts: Any) -> Decimal:
    if contracts is None:
        raise AlertError(
            "strategy_order_contracts",
            "strategy_order_contracts: required field is missing (an entry needs a size)",
        )
    return check_value("strategy_order_contracts", positive, contracts)


def _usable_size(contracts: Any) -> Decimal | None:
    try:
        return optional(positive)(contracts)
    except ValueError:
        return None
