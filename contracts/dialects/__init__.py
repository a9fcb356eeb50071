"""The four webhook dialects tradehooks accepts, parsed into one ``ParsedAlert``.

``parse_alert`` detects the dialect of a decoded JSON body; ``parse_text_message``
turns TradingView's ``text/plain`` bodies into a dict for it. Both are pure.
"""

from typing import TYPE_CHECKING, Any

from contracts.dialects.model import (
    AlertError,
    AlertIntent,
    Dialect,
    DuplicateFieldError,
    ParsedAlert,
)

if TYPE_CHECKING:
    from contracts.dialects.detect import detect_dialect, parse_alert, parse_text_message

_PARSERS = ("detect_dialect", "parse_alert", "parse_text_message")


def __getattr__(name: str) -> Any:
    """The parsers, loaded at first use: every dialect's pydantic models are built
    then, and only ingress and the validator parse alerts (the other services read
    ``ParsedAlert`` in events and never load them)."""
    if name in _PARSERS:
        from contracts.dialects import detect

        return getattr(detect, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AlertError",
    "AlertIntent",
    "Dialect",
    "DuplicateFieldError",
    "ParsedAlert",
    "detect_dialect",
    "parse_alert",
    "parse_text_message",
]
