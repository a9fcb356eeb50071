"""What every dialect parser returns, and the one error it raises."""

from __future__ import annotations

from typing import Any, Literal

from contracts.signals import Intent, Scope, TradeFields

Dialect = Literal["tradingview", "exchange", "propfirm", "routed"]
# An alert asks for what a signal does (the same words).
AlertIntent = Intent
__all__ = ["AlertError", "AlertIntent", "Dialect", "DuplicateFieldError", "ParsedAlert",
           "Scope"]


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


class ParsedAlert(TradeFields, frozen=True, kw_only=True):
    """An alert in any dialect, validated and reduced to the fields tradehooks uses.

    Ingress parses an alert once and carries this in ``webhook.received``; the
    validator turns it into a :class:`~contracts.signals.Signal`.

    ``intent`` is a trade type (``enter_long`` ...) for TradingView, whose order id
    or target position says which side a position is on; the other dialects say
    ``buy``, ``sell``, ``close``, ``close_all`` or ``cancel_all`` and leave the mapping
    to the account's position. ``quantity`` on an exit closes that much of the
    position, ``percent`` that percent of it; neither closes it all. ``scope`` says
    what ``close_all`` / ``cancel_all`` apply to (``account``: ``symbol`` is "").
    ``extras`` keeps every field the dialect does not define, verbatim.
    """

    intent: str
    order_type: str = "market"
    strategy_name: str = ""
    tenant_hint: str = ""
    account_hint: str = ""
    bot_id: str = ""
    confidence: float | None = None
    extras: dict[str, Any] = {}
