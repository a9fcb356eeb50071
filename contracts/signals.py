"""The one internal signal every webhook dialect is normalised into."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import msgspec

Intent = Literal[
    "enter_long", "exit_long", "enter_short", "exit_short", "buy", "sell", "close",
    "close_all", "cancel_all",
]
# What ``close_all`` / ``cancel_all`` apply to: the signal's symbol, or the whole account.
Scope = Literal["symbol", "account"]
AssetClass = Literal["crypto", "equity", "forex", "unknown"]
OrderType = Literal["market", "limit", "stop"]


class TradeFields(msgspec.Struct, frozen=True, kw_only=True):
    """What an alert says about a trade: shared by the parsed alert (as the dialect
    said it) and the signal (normalised for the account's broker)."""

    dialect: str
    symbol: str
    quantity: Decimal | None = None
    price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    comment: str = ""
    alert_time: datetime | None = None
    alert_id: str = ""
    scope: Scope = "symbol"
    percent: Decimal | None = None


class Signal(TradeFields, frozen=True, kw_only=True):
    """A trading intention, independent of the dialect it arrived in.

    ``quantity`` is what the alert asked for (sizing decides whether an entry uses
    it); on an exit it is how much to close, ``percent`` the percent of the position
    to close (risk decides which applies; neither: the whole position). ``price`` is
    the alert's price, used for sizing and paper fills when no better price is
    known.
    """

    asset_class: AssetClass
    intent: Intent
    order_type: OrderType = "market"
    metadata: dict[str, Any] = {}

    @property
    def is_exit(self) -> bool:
        """True for signals that close a position."""
        return self.intent in ("exit_long", "exit_short", "close")
