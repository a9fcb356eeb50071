"""The four webhook dialects tradehooks accepts, parsed into one ``ParsedAlert``.

``parse_alert`` detects the dialect of a decoded JSON body; ``parse_text_message``
turns TradingView's ``text/plain`` bodies into a dict for it. Both are pure.
"""

from contracts.dialects.detect import detect_dialect, parse_alert, parse_text_message
from contracts.dialects.model import (
    AlertError,
    AlertIntent,
    Dialect,
    DuplicateFieldError,
    ParsedAlert,
)

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
