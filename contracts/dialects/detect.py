"""Which dialect an alert speaks, and reading TradingView's plain-text messages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from contracts.dialects import exchange, propfirm, routed, tradingview
from contracts.dialects.coerce import show
from contracts.dialects.fields import without_credentials
from contracts.dialects.model import AlertError, DuplicateFieldError, ParsedAlert

_EXPECTED = (
    "unrecognised alert format; expected one of: "
    "TradingView strategy alert (symbol or ticker, strategy_order_id or "
    "strategy_market_position, strategy_order_action, strategy_order_contracts); "
    "exchange style (action, symbol; alertId optional); "
    "prop-firm style (tenantId or accountId, symbol, action, quantity); "
    "strategy-routed (strategy, signal)"
)
# Fields only one dialect sends: any of them says which dialect the sender meant, so a
# missing field of that dialect is named instead of "unrecognised".
_TRADINGVIEW_PREFIXES = ("strategy_order_", "strategy_market_position",
                         "strategy_prev_market_position", "strategy_position_size")
_PROPFIRM_KEYS = frozenset({"tenantId", "accountId", "signalId", "botId", "strategyName"})
_SHOWN_KEYS = 10
# A pair ends at a newline or ";"; the key ends at the first "=" or ":".
_PAIR_SEPARATOR = re.compile(r"[;\r\n]")
_KEY_SEPARATOR = re.compile(r"[=:]")


def detect_dialect(payload: dict[str, Any]) -> str:
    """The dialect name for a payload, by the fields that only that dialect sends.

    In order: any TradingView ``strategy_*`` field; ``alertId``; a prop-firm field
    (``tenantId``, ``accountId``, ``signalId``, ``botId``, ``strategyName``);
    ``signal``, or ``strategy`` without ``action`` (strategy-routed); ``action``
    (exchange style, whose ``alertId`` is optional). The dialect's parser then names
    any field it still misses.
    """
    keys = without_credentials(payload).keys()
    if any(key.startswith(_TRADINGVIEW_PREFIXES) for key in keys):
        return "tradingview"
    if "alertId" in keys:
        return "exchange"
    if keys & _PROPFIRM_KEYS:
        return "propfirm"
    if "signal" in keys or ("strategy" in keys and "action" not in keys):
        return "routed"
    if "action" in keys:
        return "exchange"
    received = ", ".join(sorted(keys)[:_SHOWN_KEYS]) or "none"
    raise AlertError("", f"{_EXPECTED}; received fields: {received}")


_PARSERS: dict[str, Callable[[dict[str, Any]], ParsedAlert]] = {
    "tradingview": tradingview.parse,
    "exchange": exchange.parse,
    "propfirm": propfirm.parse,
    "routed": routed.parse,
}


def parse_alert(payload: dict[str, Any]) -> ParsedAlert:
    """Detect the dialect of a decoded JSON alert and validate it.

    Raises AlertError naming the offending field. ``token``/``secret`` are ignored:
    they never reach ``extras`` or an error message.
    """
    if not isinstance(payload, dict):
        raise AlertError("", f"expected a JSON object, got {type(payload).__name__}")
    return _PARSERS[detect_dialect(payload)](payload)


def parse_text_message(text: str) -> dict[str, Any]:
    """Read a ``text/plain`` alert as ``key=value`` / ``key: value`` pairs.

    Pairs are separated by newlines or ";"; pieces without a separator are skipped.
    Values stay text (the dialect models coerce them). Raises DuplicateFieldError
    for a key sent twice (as JSON bodies do: neither value is guessed at) and
    AlertError when no pair can be read.
    """
    pairs: dict[str, Any] = {}
    for piece in _PAIR_SEPARATOR.split(text):
        key, sep, value = _split_pair(piece)
        if sep and key:
            if key in pairs:
                raise DuplicateFieldError(key, f"{show(key)} is sent more than once; "
                                               "send each field once")
            pairs[key] = value
    if not pairs:
        # The text is not echoed: it may hold the body secret.
        raise AlertError(
            "",
            "could not read any 'key=value' or 'key: value' pair from the text message; "
            "send JSON or lines such as 'action=buy'",
        )
    return pairs


def _split_pair(piece: str) -> tuple[str, str, str]:
    match = _KEY_SEPARATOR.search(piece)
    if match is None:
        return "", "", ""
    return piece[: match.start()].strip(), match.group(), piece[match.end() :].strip()
