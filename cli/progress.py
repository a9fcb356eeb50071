"""A one-line progress bar for long CLI commands (replay), drawn on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class ProgressBar:
    """Redraws ``label [####....] 45%  done/total unit  N events  rate/s`` in place.

    Draws at most every ``interval`` seconds, so a fast loop pays almost nothing
    for it; :meth:`close` draws the final state and ends the line.
    """

    def __init__(self, total: int, label: str, unit: str = "", stream: TextIO | None = None,
                 width: int = 28, interval: float = 0.2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = max(total, 0)
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.width = width
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.drawn_at = -interval
        self.done = 0
        self.events = 0

    def update(self, done: int, events: int) -> None:
        """Record progress (``done`` of ``total``, ``events`` applied); redraw if due."""
        self.done, self.events = done, events
        now = self.clock()
        if now - self.drawn_at >= self.interval:
            self.drawn_at = now
            self._draw(now)

    def close(self) -> None:
        """Draw the final state and move to the next line."""
        self._draw(self.clock())
        self.stream.write("\n")
        self.stream.flush()

    def line(self, now: float) -> str:
        """The bar as text at time ``now``."""
        fraction = min(self.done / self.total, 1.0) if self.total else 1.0
        filled = int(fraction * self.width)
        elapsed = now - self.started
        rate = self.events / elapsed if elapsed > 0 else 0.0
        unit = f" {self.unit}" if self.unit else ""
        return (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{fraction:4.0%}  {self.done:,}/{self.total:,}{unit}  "
                f"{self.events:,} events  {rate:,.0f} events/s")

    def _draw(self, now: float) -> None:
        # \r returns to the start of the line; \x1b[K clears what a longer line left.
        self.stream.write("\r" + self.line(now) + "\x1b[K")
        self.stream.flush()
