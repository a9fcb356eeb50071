"""The CLI progress bar: what it draws and how often."""

from __future__ import annotations

import io

from cli.progress import ProgressBar
from tests.factories import ManualClock


def test_bar_shows_done_of_total_percent_and_event_rate() -> None:
    clock = ManualClock()
    bar = ProgressBar(1000, "replay", unit="stored", stream=io.StringIO(), width=10,
                      clock=clock.seconds)
    clock.advance(2.0)
    bar.update(250, 200)

    assert bar.line(clock.seconds()) == (
        "replay [##........]  25%  250/1,000 stored  200 events  100 events/s")


def test_bar_redraws_at_most_once_per_interval_and_ends_the_line() -> None:
    clock = ManualClock()
    stream = io.StringIO()
    bar = ProgressBar(10, "replay", stream=stream, interval=1.0, clock=clock.seconds)

    bar.update(1, 1)
    bar.update(2, 2)  # same instant: not drawn
    clock.advance(1.0)
    bar.update(3, 3)
    bar.close()

    frames = stream.getvalue().split("\r")[1:]
    assert len(frames) == 3
    assert "1/10" in frames[0] and "3/10" in frames[1] and "3/10" in frames[2]
    assert stream.getvalue().endswith("\n")


def test_an_empty_total_counts_as_done() -> None:
    bar = ProgressBar(0, "replay", stream=io.StringIO(), width=4, clock=ManualClock().seconds)
    assert bar.line(100.0).startswith("replay [####] 100%  0/0")
