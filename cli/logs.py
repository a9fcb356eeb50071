"""``tradehooks logs [--activity] [-n N] [--follow]``: the last lines of ``logs.jsonl``
(or ``activity.log``), and with ``--follow`` every line written after them, across
rotations, until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from pathlib import Path
from typing import IO

from libs.runtime.config import Settings
from projections.logbook import ACTIVITY, JSONL

POLL_S = 0.25


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``logs`` command's arguments."""
    logs = sub.add_parser("logs", help="show (and follow) logs.jsonl or activity.log")
    logs.add_argument("--activity", action="store_true",
                      help="activity.log (a line per position, equity and bot-state change) "
                      "instead of logs.jsonl (every event)")
    logs.add_argument("-n", "--lines", type=int, default=20,
                      help="how many of the last lines to show first (default 20)")
    logs.add_argument("-f", "--follow", action="store_true",
                      help="keep printing new lines (across rotations) until Ctrl-C")
    logs.add_argument("--data-dir", help="data dir of 'tradehooks up' (default var)")


def run(settings: Settings, args: argparse.Namespace, out: IO[str] | None = None,
        polls: int | None = None) -> int:
    """Print the file's last lines, then follow it; ``polls`` bounds the following
    (tests), None follows until interrupted."""
    out = out or sys.stdout
    path = settings.log_folder / (ACTIVITY if args.activity else JSONL)
    if not path.exists() and not args.follow:
        print(f"no {path} yet: the auditor writes it (TRADEHOOKS_LOG_FILES)", file=sys.stderr)
        return 1
    follower = Follower(path)
    for line in deque(follower.read_new(), maxlen=max(args.lines, 0)):
        out.write(line)
    out.flush()
    try:
        while args.follow and (polls is None or polls > 0):
            time.sleep(POLL_S)
            for line in follower.read_new():
                out.write(line)
            out.flush()
            polls = None if polls is None else polls - 1
    except KeyboardInterrupt:
        pass
    return 0


class Follower:
    """Reads whole lines appended to a file; starts over when the file is rotated
    (another inode at the path) or truncated."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.inode: int | None = None
        self.offset = 0
        self.partial = b""

    def read_new(self) -> list[str]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        lines: list[str] = []
        if self.inode is not None and (stat.st_ino != self.inode or stat.st_size < self.offset):
            lines += self._rest_of_rotated()
            self.offset, self.partial = 0, b""
        self.inode = stat.st_ino
        with self.path.open("rb") as file:
            file.seek(self.offset)
            data = self.partial + file.read()
            self.offset = file.tell()
        *whole, self.partial = data.split(b"\n")
        return lines + [line.decode("utf-8", "replace") + "\n" for line in whole]

    def _rest_of_rotated(self) -> list[str]:
        """What the old file got after our last read, before it was rotated away."""
        rotated = self.path.with_name(self.path.name + ".1")
        try:
            if rotated.stat().st_ino != self.inode:
                return []
            with rotated.open("rb") as file:
                file.seek(self.offset)
                data = self.partial + file.read()
        except FileNotFoundError:
            return []
        return [line.decode("utf-8", "replace") + "\n" for line in data.split(b"\n") if line]


