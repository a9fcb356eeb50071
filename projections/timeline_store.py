"""Where the timeline lives: which stored events belong to which account, and the
account's snapshots, with the store position they were built up to.

Beside the event store like the read model (a SQLite file ``<store>-timeline.sqlite``,
or tables in the store's PostgreSQL schema). Every row is derived from the store
alone, so two writers write the same rows: inserts ignore a row already there and the
position only moves forward, which makes a catch-up by ``tradehooks account-at``
safe while the auditor runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from projections.persistence import StoreLocation, created_concurrently, postgres_connector

if TYPE_CHECKING:
    import psycopg

_TABLES = (
    "CREATE TABLE IF NOT EXISTS {p}th_account_events (account_id TEXT NOT NULL,"
    " position BIGINT NOT NULL, occurred_at TEXT NOT NULL, PRIMARY KEY (account_id, position))",
    "CREATE INDEX IF NOT EXISTS th_account_events_time ON {p}th_account_events"
    " (account_id, occurred_at, position)",
    "CREATE TABLE IF NOT EXISTS {p}th_account_snapshots (account_id TEXT NOT NULL,"
    " position BIGINT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (account_id, position))",
    "CREATE TABLE IF NOT EXISTS {p}th_timeline_position (id INTEGER PRIMARY KEY,"
    " position BIGINT NOT NULL)",
)
IndexRow = tuple[str, int, str]  # account (or strategy key), position, occurred_at
# Row id 0 of th_timeline_position: what the index holds. A timeline built by an older
# version (without strategies) is cleared on open and rebuilt by the next catch-up.
VERSION = 2
Snapshot = tuple[str, int, str]  # account, position, encoded state


class TimelineStore:
    """The timeline's tables over one DB-API connection (SQLite or PostgreSQL)."""

    def __init__(self, connect: Callable[[], Any], prefix: str, postgres: bool) -> None:
        self._connect = connect
        self._conn = connect()
        self.p = prefix
        self.postgres = postgres
        for ddl in _TABLES:
            self.conn.execute(ddl.format(p=prefix))
        if self._version() < VERSION:
            self.clear()
            self.conn.execute(self._sql("INSERT INTO {p}th_timeline_position (id, position) "
                                        "VALUES (0, ?) ON CONFLICT (id) DO UPDATE SET "
                                        "position = excluded.position"), (VERSION,))
        else:
            # A fresh timeline says which version it is at once: without the row, the
            # next process to open it (the operator API, account-at) took the auditor's
            # first index rows for an old version's and cleared them under it.
            self.conn.execute(self._sql("INSERT INTO {p}th_timeline_position (id, position) "
                                        "VALUES (0, ?) ON CONFLICT (id) DO NOTHING"),
                              (VERSION,))

    def _version(self) -> int:
        rows = self._rows("SELECT position FROM {p}th_timeline_position WHERE id = 0", ())
        if rows:
            return int(rows[0][0])
        # No version row: an empty timeline is current, an indexed one is version 1.
        return VERSION if not self._rows("SELECT 1 FROM {p}th_timeline_position", ()) else 1

    @property
    def conn(self) -> Any:
        """The connection, made again when the database closed it (a restart, an
        outage): the auditor keeps projecting once the database is back."""
        if getattr(self._conn, "closed", False) or getattr(self._conn, "broken", False):
            self._conn = self._connect()
        return self._conn

    def _sql(self, text: str) -> str:
        text = text.format(p=self.p)
        return text.replace("?", "%s") if self.postgres else text

    def _rows(self, text: str, params: Sequence[Any]) -> list[Any]:
        return list(self.conn.execute(self._sql(text), params).fetchall())

    def position(self) -> int:
        """The store position the timeline is complete up to."""
        rows = self._rows("SELECT position FROM {p}th_timeline_position WHERE id = 1", ())
        return int(rows[0][0]) if rows else 0

    def save(self, index: Sequence[IndexRow], snapshots: Sequence[Snapshot],
             position: int) -> None:
        """Add index rows and snapshots and move to ``position``, atomically."""
        statements = [
            ("INSERT INTO {p}th_account_events (account_id, position, occurred_at) "
             "VALUES (?, ?, ?) ON CONFLICT DO NOTHING", index),
            ("INSERT INTO {p}th_account_snapshots (account_id, position, state) "
             "VALUES (?, ?, ?) ON CONFLICT DO NOTHING", snapshots),
        ]
        track = ("INSERT INTO {p}th_timeline_position AS t (id, position) VALUES (1, ?) "
                 "ON CONFLICT (id) DO UPDATE SET position = excluded.position "
                 "WHERE excluded.position > t.position")
        if self.postgres:
            conn = self.conn
            with conn.transaction(), conn.cursor() as cur:
                for text, rows in statements:
                    if rows:
                        cur.executemany(self._sql(text), rows)
                cur.execute(self._sql(track), (position,))
            return
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            for text, rows in statements:
                cur.executemany(self._sql(text), rows)
            cur.execute(self._sql(track), (position,))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def latest_snapshot(self, account: str, at_most: int) -> tuple[int, str] | None:
        """The account's newest snapshot at or before ``at_most``."""
        rows = self._rows("SELECT position, state FROM {p}th_account_snapshots "
                          "WHERE account_id = ? AND position <= ? "
                          "ORDER BY position DESC LIMIT 1", (account, at_most))
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def positions(self, account: str, after: int, at_most: int) -> list[int]:
        """Positions of the account's events in ``(after, at_most]``, oldest first."""
        rows = self._rows("SELECT position FROM {p}th_account_events WHERE account_id = ? "
                          "AND position > ? AND position <= ? ORDER BY position",
                          (account, after, at_most))
        return [int(r[0]) for r in rows]

    def last_position(self, key: str, at_most: int) -> int | None:
        """Position of the key's last indexed event at or before ``at_most``."""
        rows = self._rows("SELECT MAX(position) FROM {p}th_account_events "
                          "WHERE account_id = ? AND position <= ?", (key, at_most))
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def position_at(self, account: str, instant: str) -> tuple[str, int] | None:
        """(occurred_at, position) of the account's latest event that occurred at or
        before ``instant`` (the latest position among equal times): one index probe."""
        rows = self._rows("SELECT occurred_at, position FROM {p}th_account_events "
                          "WHERE account_id = ? AND occurred_at <= ? "
                          "ORDER BY occurred_at DESC, position DESC LIMIT 1",
                          (account, instant))
        return (str(rows[0][0]), int(rows[0][1])) if rows else None

    def clear(self) -> None:
        """Forget everything (a rebuild starts from position 0)."""
        for table in ("th_account_events", "th_account_snapshots", "th_timeline_position"):
            self.conn.execute(self._sql(f"DELETE FROM {{p}}{table}"))  # noqa: S608 - constant names

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


def open_timeline(location: StoreLocation) -> TimelineStore:
    """The timeline that lives beside the event store at ``location``."""
    if location.kind == "sqlite":
        base = Path(location.sqlite_path)
        path = base.with_name(base.stem + "-timeline.sqlite")
        path.parent.mkdir(parents=True, exist_ok=True)

        def connect_sqlite() -> sqlite3.Connection:
            conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False,
                                   isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            return conn

        return TimelineStore(connect_sqlite, "", postgres=False)

    connect = postgres_connector(location)

    def connect_postgres() -> psycopg.Connection[Any]:
        conn = connect()
        if location.schema:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{location.schema}"')
        return conn

    prefix = f'"{location.schema}".' if location.schema else ""
    return created_concurrently(lambda: TimelineStore(connect_postgres, prefix, postgres=True))
