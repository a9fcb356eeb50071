"""``KEY=VALUE`` words of the admin commands."""

from __future__ import annotations

import json
from typing import Any


def parse_fields(pairs: list[str], text_keys: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``key=value`` pairs; values that parse as JSON (numbers, objects) are kept so,
    except those of ``text_keys`` (a chat id ``-100123`` stays text)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"expected KEY=VALUE, got {pair!r}")
        if key in text_keys:
            out[key] = value
            continue
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out
