"""``logs.jsonl`` and ``activity.log``: the platform's log files, a projection of the
event store written under ``<data dir>/logs``.

Every line carries the store position of its event (``"position"`` in JSON, ``#n``
in the human line), so each file resumes after the last position it holds: a crash
loses nothing and writes nothing twice (a line cut off by the crash is removed).
The files rotate by size (``logs.jsonl.1`` … as ``logging``'s rotating handler
does). Every process that runs the log book writes whole files of its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from contracts.events import AnyEvent
from projections.activity import activity_line, jsonl_line
from projections.store import EventStore

JSONL = "logs.jsonl"
ACTIVITY = "activity.log"
_JSON_POSITION = re.compile(rb'^\{"position":(\d+),')
_ACTIVITY_POSITION = re.compile(rb"^\S+ #(\d+) ")


class _LogFile:
    """One rotated file and the last position written to it.

    Rotates as ``logging``'s rotating handler does (``name.1`` is the newest old
    file), but writes a whole batch of lines with one flush: emitting each line as a
    log record (with its rollover checks and a flush per line) was a sixth of the
    auditor's CPU."""

    def __init__(self, path: Path, position_of: re.Pattern[bytes], max_bytes: int,
                 backups: int) -> None:
        self.path = path
        self.position = _last_position(path, position_of, backups)
        self.max_bytes = max_bytes
        self.backups = backups
        self.stream: BinaryIO | None = None
        self.size = 0

    def write_many(self, lines: list[str], position: int) -> None:
        """Append ``lines`` (each a whole line, without its newline) and flush; every
        event up to ``position`` is then in the file."""
        if lines:
            stream = self._open()
            for line in lines:
                data = line.encode("utf-8") + b"\n"
                if self.size and self.size + len(data) > self.max_bytes:
                    stream = self._rotate()
                stream.write(data)
                self.size += len(data)
            stream.flush()
        self.position = max(self.position, position)

    def _open(self) -> BinaryIO:
        if self.stream is None:
            self.stream = self.path.open("ab")
            self.size = self.stream.seek(0, os.SEEK_END)
        return self.stream

    def _rotate(self) -> BinaryIO:
        """``name`` becomes ``name.1``, ``name.1`` becomes ``name.2``, ... the oldest
        beyond ``backups`` goes."""
        self.close()
        if self.backups > 0:
            for n in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{n}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        return self._open()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None


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
            last = rows[-1][0]
            for file, line_of in self.files:
                lines = [line for position, event in rows
                         if event is not None and position > file.position
                         and (line := line_of(position, event)) is not None]
                file.write_many(lines, last)
            read += len(rows)

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
