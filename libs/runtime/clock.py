"""Injected time and ids, so decisions are deterministic under test."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current UTC time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        return datetime.now(UTC)


class FileClock:
    """The instant written in a file (ISO 8601), else the wall clock.

    For tests of running processes only (``TRADEHOOKS_TEST_CLOCK_FILE``): a test
    freezes or moves the time of every process that reads the file, so windows and
    overlaps are the test's to control instead of a race with the wall clock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        """The file's instant, or the current time while the file is absent or empty."""
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            text = ""
        return datetime.fromisoformat(text) if text else datetime.now(UTC)


def clock_for(test_clock_file: str) -> Clock:
    """The wall clock, or a test's :class:`FileClock` when a file is configured."""
    return FileClock(Path(test_clock_file)) if test_clock_file else SystemClock()


def new_id() -> str:
    """A fresh random id (UUID4 hex with dashes)."""
    return str(uuid.uuid4())
