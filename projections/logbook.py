"""``logs.jsonl`` and ``activity.log``: the platform's log files, a projection of the
event store written under ``<data dir>/logs``.

Every line carries the store position of its event (``"position"`` in JSON, ``#n``
in the human line), so each file resumes after the last position it holds: a crash
loses nothing and writes nothing twice (a line cut off by the crash is removed).
The files rotate by size (``logs.jsonl.1`` … as ``logging``'s rotating handler
does). Every process that runs the log book writes whole files of its own.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path

from contracts.events import AnyEvent
from projections.activity import activity_line, jsonl_line
from projections.store import EventStore

JSONL = "logs.jsonl"
ACTIVITY = "activity.log"
_JSON_POSITION = re.compile(rb'^\{"position":(\d+),')
_ACTIVITY_POSITION = re.compile(rb"^\S+ #(\d+) ")


class _LogFile:
    """One rotated file and the last position written to it."""

    def __init__(self, path: Path, position_of: re.Pattern[bytes], max_bytes: int,
                 backups: int) -> None:
        self.path = path
        self.position = _last_position(path, position_of, backups)
        self.handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                           encoding="utf-8", delay=True)
        self.handler.setFormatter(logging.Formatter("%(message)s"))

    def write(self, position: int, line: str) -> None:
        record = logging.LogRecord("logbook", logging.INFO, str(self.path), 0, line, None, None)
        self.handler.emit(record)  # writes, flushes, rotates when over the size
        self.position = position

    def close(self) -> None:
        self.handler.close()


def _last_position(path: Path, pattern: re.Pattern[bytes], backups: int) -> int:
    """The position of the last whole line in the newest file that has one; a last
    line without its newline (cut off by a crash) is removed first."""
    for candidate in [path, *(path.with_name(f"{path.name}.{n}") for n in range(1, backups + 1))]:
        if not candidate.exists():
            continue
        _drop_partial_line(candidate)
        line = _last_line(candidate)
        if line and (match := pattern.match(line)):
            return int(match.group(1))
    return 0


def _drop_partial_line(path: Path) -> None:
    with path.open("rb+") as file:
        size = file.seek(0, os.SEEK_END)
        if size == 0:
            return
        file.seek(size - 1)
        if file.read(1) == b"\n":
            return
        # Back to the last newline (or the start): what follows was never whole.
        chunk = min(size, 1 << 20)
        file.seek(size - chunk)
        tail = file.read(chunk)
        cut = tail.rfind(b"\n")
        file.truncate(size - chunk + cut + 1 if cut >= 0 else 0)


def _last_line(path: Path) -> bytes:
    with path.open("rb") as file:
        size = file.seek(0, os.SEEK_END)
        chunk = min(size, 1 << 20)
        file.seek(size - chunk)
        lines = file.read(chunk).splitlines()
    return lines[-1] if lines else b""


class LogBook:
    """Writes every stored event after the files' positions to ``logs.jsonl`` and, for
    position, equity and bot-state changes, a sentence to ``activity.log``."""

    def __init__(self, store: EventStore, folder: Path, max_bytes: int = 10 << 20,
                 backups: int = 5) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.files: list[tuple[_LogFile, Callable[[int, AnyEvent], str | None]]] = [
            (_LogFile(folder / JSONL, _JSON_POSITION, max_bytes, backups), jsonl_line),
            (_LogFile(folder / ACTIVITY, _ACTIVITY_POSITION, max_bytes, backups),
             activity_line),
        ]
        # activity.log has no line for most events: its position is where the
        # JSON file's is when it holds nothing later (both resume from the lower).
        activity, jsonl = self.files[1][0], self.files[0][0]
        if activity.position < jsonl.position and not _later_activity(store, activity.position,
                                                                     jsonl.position):
            activity.position = jsonl.position

    @property
    def position(self) -> int:
        """Every event up to here is in both files (as far as it has a line)."""
        return min(file.position for file, _ in self.files)

    def catch_up(self, batch: int = 1000) -> int:
        """Write what the store holds after :attr:`position`; returns events read."""
        read = 0
        while True:
            rows = self.store.read_events(self.position, batch)
            if not rows:
                return read
            for position, event in rows:
                for file, line_of in self.files:
                    if event is None or position <= file.position:
                        continue
                    line = line_of(position, event)
                    if line is not None:
                        file.write(position, line)
                    else:
                        file.position = position
                read += 1
            last = rows[-1][0]
            for file, _ in self.files:
                file.position = max(file.position, last)

    def close(self) -> None:
        """Close both files."""
        for file, _ in self.files:
            file.close()


def _later_activity(store: EventStore, after: int, until: int) -> bool:
    """Whether any event in (after, until] has an activity line (so activity.log must
    resume at ``after``)."""
    position = after
    while position < until:
        rows = store.read_events(position, 1000)
        if not rows:
            return False
        for row_position, event in rows:
            if row_position > until:
                return False
            if event is not None and activity_line(row_position, event) is not None:
                return True
        position = rows[-1][0]
    return False
