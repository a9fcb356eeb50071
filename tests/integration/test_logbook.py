"""logs.jsonl and activity.log from a real store (SQLite and PostgreSQL): every event
once, in store order, across restarts, a crash mid-line and rotations."""

from __future__ import annotations

import argparse
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from cli import logs
from contracts.events import AnyEvent
from libs.runtime.config import Settings
from projections.logbook import ACTIVITY, JSONL, LogBook
from projections.store import EventStore
from tests.factories import make_fill, make_received, make_trade_executed
from tests.harness import BACKENDS

pytestmark = pytest.mark.parametrize("store_url", BACKENDS, indirect=True)


def _signal(n: int) -> list[AnyEvent]:
    """One alert and its fill (the fill is an activity line, the alert is not)."""
    signal_id = f"sig-{n:04d}"
    return [make_received(event_id=f"r-{n}", signal_id=signal_id),
            make_trade_executed(event_id=f"x-{n}", signal_id=signal_id,
                                fill=make_fill(position_quantity=Decimal(n)))]


def _json_positions(folder: Path) -> list[int]:
    """Every position in logs.jsonl and its rotations, oldest first."""
    files = sorted(folder.glob(JSONL + "*"), key=lambda p: -int(p.suffix[1:])
                   if p.suffix[1:].isdigit() else 0)
    return [json.loads(line)["position"] for path in files
            for line in path.read_text().splitlines()]


def _activity(folder: Path) -> list[str]:
    return (folder / ACTIVITY).read_text().splitlines()


def test_every_event_once_in_order_across_restarts(store: EventStore, tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    for n in range(3):
        store.append(_signal(n))
    book = LogBook(store, folder)
    assert book.catch_up() > 0
    book.close()
    for n in range(3, 5):
        store.append(_signal(n))
    book = LogBook(store, folder)  # a restart: resumes after the files' last lines
    book.catch_up()
    book.close()
    positions = _json_positions(folder)
    stored = [p for p, e in store.read_events(0, 1000) if e is not None]
    assert positions == stored  # each event once, in store order
    fills = _activity(folder)
    assert len(fills) == 5
    assert all("AAPL buy 10 @ 100 → position" in line for line in fills)
    assert [line.split()[1] for line in fills] == sorted({line.split()[1] for line in fills},
                                                         key=lambda s: int(s[1:]))


def test_a_line_cut_off_by_a_crash_is_written_again_whole(store: EventStore,
                                                          tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    store.append(_signal(0) + _signal(1))
    book = LogBook(store, folder)
    book.catch_up()
    book.close()
    whole = (folder / JSONL).read_bytes()
    activity = (folder / ACTIVITY).read_bytes()
    # The crash: the last line of each file is half written.
    (folder / JSONL).write_bytes(whole[:-25])
    (folder / ACTIVITY).write_bytes(activity[:-10])
    book = LogBook(store, folder)
    book.catch_up()
    book.close()
    assert (folder / JSONL).read_bytes() == whole
    assert (folder / ACTIVITY).read_bytes() == activity


def test_rotation_keeps_every_line_and_a_follower_sees_each_once(store: EventStore,
                                                                  tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    book = LogBook(store, settings.log_folder, max_bytes=4096, backups=50)
    store.append(_signal(0))
    book.catch_up()
    shown = io.StringIO()
    assert logs.run(settings, argparse.Namespace(activity=False, lines=1, follow=False),
                    out=shown) == 0
    assert json.loads(shown.getvalue())["type"] == "webhook.trade_executed"  # the last one
    follower = logs.Follower(settings.log_folder / JSONL)
    followed = follower.read_new()
    for n in range(1, 40):
        store.append(_signal(n))
        book.catch_up()
        followed += follower.read_new()  # `logs --follow` between writes
    book.close()
    assert len(list(settings.log_folder.glob(JSONL + ".*"))) >= 3  # it rotated
    positions = _json_positions(settings.log_folder)
    assert positions == [p for p, e in store.read_events(0, 1000) if e is not None]
    assert [json.loads(line)["position"] for line in followed] == positions
    # Reopened after rotations: nothing is written twice.
    book = LogBook(store, settings.log_folder, max_bytes=4096, backups=50)
    assert book.catch_up() == 0
    book.close()
    assert _json_positions(settings.log_folder) == positions
