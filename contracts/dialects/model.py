"""What every dialect parser returns, and the one error it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

Dialect = Literal["tradingview", "exchange", "propfirm", "routed"]
Scope = Literal["symbol", "account"]
AlertIntent = Literal[
    "enter_long", "exit_long", "enter_short", "exit_short", "buy", "sell", "close",
    "close_all", "cancel_all",
]


class AlertError(Exception):
    """An alert that cannot be turned into a signal.

    ``field`` is the dotted path of the offending payload field ("" when the problem
    is not about one field); ``message`` is a sentence a trader can act on. Neither
    ever contains the value of a credential field (``token``/``secret``).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class DuplicateFieldError(AlertError):
    """A field sent twice in one message: which value was meant cannot be known."""


@dataclass(frozen=True)
class ParsedAlert:
    """An alert in any dialect, validated and reduced to the fields tradehooks uses.

    ``intent`` is a trade type (``enter_long`` ...) for TradingView, whose order id
    or target position says which side a position is on; the other dialects say
    ``buy``, ``sell``, ``close``, ``close_all`` or ``cancel_all`` and leave the mapping
    to the account's position. ``quantity`` on an exit closes that much of the
    position, ``percent`` that percent of it; neither closes it all. ``scope`` says
    what ``close_all`` / ``cancel_all`` apply to (``account``: ``symbol`` is "").
    ``extras`` keeps every field the dialect does not define, verbatim.
    """

    dialect: str
    symbol: str
    intent: str
    quantity: Decimal | None = None
    price: Decimal | None = None
    order_type: str = "market"
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    comment: str = ""
    alert_time: datetime | None = None
    alert_id: str = ""
    strategy_name: str = ""
    tenant_hint: str = ""
    account_hint: str = ""
    bot_id: str = ""
    confidence: float | None = None
    percent: Decimal | None = None
    scope: Scope = "symbol"
    extras: dict[str, Any] = field(default_factory=dict)
