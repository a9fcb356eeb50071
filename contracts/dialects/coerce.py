"""Lax value coercions shared by every dialect.

TradingView renders placeholders as text, so numbers and times may arrive as
strings; a placeholder it could not fill stays as ``{{...}}``. These accept the text
form, reject what would silently become a wrong order (NaN, booleans, zero sizes,
unrendered placeholders) and say why: each raises ``ValueError(reason)`` and the
caller prefixes the field name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from contracts.market import MAX_PRICE

T = TypeVar("T")

# Seconds since 1970 stay below 1e11 until the year 5138; larger means milliseconds.
_MILLIS_THRESHOLD = Decimal(10) ** 11
_SHOWN_CHARS = 60
# Plain ASCII decimal notation only. Decimal() would also read "1_000", "١٢٣" or
# full-width digits: no alert template renders those, and they hide what was sent.
_NUMERIC_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE_TEXT = frozenset({"nan", "snan", "inf", "infinity"})
# Sizes, prices and unix milliseconds all live well inside 1e-18 .. 1e15; outside it
# Decimal arithmetic downstream (sizing, time conversion) would overflow or trap
# instead of refusing, and no real order needs such a number.
_MAX_ADJUSTED_EXPONENT = 14
_MIN_ADJUSTED_EXPONENT = -18


def show(value: Any) -> str:
    """Quote a received value for an error message, shortened so logs stay small."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 3] + "..."
    return f"'{text}'"


def is_placeholder(value: Any) -> bool:
    """True for text that still holds a ``{{...}}`` TradingView placeholder."""
    return isinstance(value, str) and "{{" in value and "}}" in value


def _refuse_placeholder(value: Any, expected: str) -> None:
    if is_placeholder(value):
        raise ValueError(
            f"expected {expected}, got {show(value)} (an unrendered TradingView placeholder)"
        )


def number(value: Any) -> Decimal:
    """A finite Decimal from a number or numeric text."""
    _refuse_placeholder(value, "a number")
    # bool is an int subclass: `true` must not become a size of 1.
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {show(value)} (a boolean)")
    if isinstance(value, int | Decimal):
        result = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {show(value)}")
        result = Decimal(repr(value))  # repr keeps 0.1 as 0.1, not its binary expansion
    elif isinstance(value, str):
        result = _numeric_text(value)
    else:
        raise ValueError(f"expected a number, got {show(value)}")
    if not result.is_finite():
        raise ValueError(f"expected a finite number, got {show(value)}")
    # adjusted() is the exponent of the leading digit; unlike abs() or a comparison
    # it never rounds, so it cannot itself overflow on 1e999999999.
    if result and not _MIN_ADJUSTED_EXPONENT <= result.adjusted() <= _MAX_ADJUSTED_EXPONENT:
        raise ValueError(f"out of range (1e-18 to 1e15), got {show(value)}")
    return result


def _numeric_text(value: str) -> Decimal:
    stripped = value.strip()
    if not stripped:
        raise ValueError("expected a number, got an empty text")
    if stripped.lstrip("+-").lower() in _NON_FINITE_TEXT:
        raise ValueError(f"expected a finite number, got {show(value)}")
    if not _NUMERIC_TEXT.fullmatch(stripped):
        raise ValueError(f"expected a number, got {show(value)}")
    try:
        return Decimal(stripped)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid text
        raise ValueError(f"expected a number, got {show(value)}") from None


def positive(value: Any) -> Decimal:
    """A number greater than zero (sizes and prices)."""
    result = number(value)
    if result <= 0:
        raise ValueError(f"must be greater than 0, got {show(value)}")
    return result


def non_negative(value: Any) -> Decimal:
    """A number of zero or more (an unsigned position size: 0 when flat)."""
    result = number(value)
    if result < 0:
        raise ValueError(f"must not be negative, got {show(value)}")
    return result


def percent(value: Any) -> Decimal:
    """A percent above 0 and at most 100 (part of a position)."""
    result = number(value)
    if not 0 < result <= 100:
        raise ValueError(f"must be a percent above 0 and at most 100, got {show(value)}")
    return result


def price(value: Any) -> Decimal:
    """A price: greater than zero and below 10^12 (a larger one poisons equity)."""
    result = positive(value)
    if result >= MAX_PRICE:
        raise ValueError(f"must be below 10^12, got {show(value)}")
    return result


def unit_interval(value: Any) -> float:
    """A number between 0 and 1 inclusive (confidence)."""
    result = number(value)
    if not 0 <= result <= 1:
        raise ValueError(f"must be between 0 and 1, got {show(value)}")
    return float(result)


def text(value: Any) -> str:
    """Stripped text; whole numbers are accepted because ids are often numeric."""
    _refuse_placeholder(value, "text")
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected text, got {show(value)}")


def required_text(value: Any) -> str:
    """Non-empty stripped text."""
    result = text(value)
    if not result:
        raise ValueError("must not be empty")
    return result


# Venue tickers are ASCII (NASDAQ:AAPL, BINANCE:BTCUSDT.P, CME_MINI:ES1!, OANDA:EUR_USD).
# Anything else is refused rather than traded: a Cyrillic A (U+0410) in "AAPL" or an RTL
# override would show as AAPL in a log or audit view while being another symbol.
_SYMBOL = re.compile(r"[!-~]{1,40}")


def symbol(value: Any) -> str:
    """A ticker: 1-40 visible ASCII characters, no spaces."""
    result = required_text(value)
    if not _SYMBOL.fullmatch(result):
        raise ValueError(
            f"expected a ticker of at most 40 visible ASCII characters, got {show(value)}")
    return result


def optional_symbol(value: Any) -> str:
    """A ticker, "" when null or blank (the strategy's configured symbol is used)."""
    return "" if value is None or (isinstance(value, str) and not value.strip()) \
        else symbol(value)


def optional_text(value: Any) -> str:
    """Stripped text, "" when null."""
    return "" if value is None else text(value)


def alert_time(value: Any) -> datetime:
    """An aware datetime from ISO 8601 text or unix seconds/milliseconds."""
    expected = "an ISO 8601 time or unix seconds/milliseconds"
    _refuse_placeholder(value, expected)
    if isinstance(value, str) and not _looks_numeric(value):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"expected {expected}, got {show(value)}") from None
        # A time without offset is read as UTC: TradingView's {{time}} is UTC.
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        stamp = number(value)
    except ValueError:
        raise ValueError(f"expected {expected}, got {show(value)}") from None
    seconds = stamp / 1000 if abs(stamp) >= _MILLIS_THRESHOLD else stamp
    try:
        return datetime.fromtimestamp(float(seconds), tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"time out of range, got {show(value)}") from None


def _looks_numeric(value: str) -> bool:
    stripped = value.strip()
    return bool(_NUMERIC_TEXT.fullmatch(stripped)) or (
        stripped.lstrip("+-").lower() in _NON_FINITE_TEXT)


def choice(accepted: Mapping[str, T], hint: str = "") -> Callable[[Any], T]:
    """A case-insensitive pick from ``accepted`` (received word -> meaning)."""
    names = ", ".join(f"'{name}'" for name in accepted)

    def pick(value: Any) -> T:
        _refuse_placeholder(value, f"one of {names}")
        if isinstance(value, str) and value.strip().lower() in accepted:
            return accepted[value.strip().lower()]
        raise ValueError(f"expected one of {names}{hint}, got {show(value)}")

    return pick


def optional(check: Callable[[Any], T]) -> Callable[[Any], T | None]:
    """Allow null or blank text (an empty placeholder rendering) as "not sent"."""

    def maybe(value: Any) -> T | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return check(value)

    return maybe


def order_type(value: Any) -> str:
    """market/limit/stop, market when not sent."""
    picked = optional(choice({"market": "market", "limit": "limit", "stop": "stop"}))(value)
    return picked or "market"
