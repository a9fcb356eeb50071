"""Injected time and ids, so decisions are deterministic under test."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current UTC time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        return datetime.now(UTC)


def new_id() -> str:
    """A fresh random id (UUID4 hex with dashes)."""
    return str(uuid.uuid4())
