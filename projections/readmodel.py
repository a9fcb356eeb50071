"""Read-model tables for projections, with the position they were built up to.

Views and the tracking position are written in one transaction, so a crash can
never apply an event twice or skip one. SQLite (a file beside the event store)
by default, PostgreSQL (same database and schema as the store) at scale.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from projections.persistence import StoreLocation, created_concurrently, postgres_connector

_TABLES = (
    "CREATE TABLE IF NOT EXISTS {p}th_views ("
    " projection TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL,"
    " PRIMARY KEY (projection, key))",
    "CREATE TABLE IF NOT EXISTS {p}th_tracking ("
    " projection TEXT PRIMARY KEY, position BIGINT NOT NULL)",
)


class ReadModel(Protocol):
    """Storage of projection views (JSON bodies) keyed by projection and key."""

    def position(self, projection: str) -> int: ...
    def get(self, projection: str, key: str) -> str | None: ...
    def all(self, projection: str) -> dict[str, str]: ...
    def save(self, projection: str, bodies: dict[str, str], position: int) -> None: ...
    def replace_all(self, projection: str, bodies: dict[str, str], position: int) -> None: ...
    def close(self) -> None: ...


class SQLiteReadModel:
    """Read model in a SQLite file (WAL, so readers in other processes never block)."""

    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, timeout=10, check_same_thread=False,
                                    isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        for ddl in _TABLES:
            self.conn.execute(ddl.format(p=""))

    def position(self, projection: str) -> int:
        row = self.conn.execute(
            "SELECT position FROM th_tracking WHERE projection = ?", (projection,)
        ).fetchone()
        return int(row[0]) if row else 0

    def get(self, projection: str, key: str) -> str | None:
        row = self.conn.execute(
            "SELECT body FROM th_views WHERE projection = ? AND key = ?", (projection, key)
        ).fetchone()
        return str(row[0]) if row else None

    def all(self, projection: str) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT key, body FROM th_views WHERE projection = ?", (projection,)
        ).fetchall()
        return {str(k): str(b) for k, b in rows}

    def save(self, projection: str, bodies: dict[str, str], position: int) -> None:
        self._write(projection, bodies.items(), position, clear=False)

    def replace_all(self, projection: str, bodies: dict[str, str], position: int) -> None:
        self._write(projection, bodies.items(), position, clear=True)

    def _write(self, projection: str, items: Iterable[tuple[str, str]], position: int,
               clear: bool) -> None:
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            if clear:
                cur.execute("DELETE FROM th_views WHERE projection = ?", (projection,))
            cur.executemany(
                "INSERT INTO th_views (projection, key, body) VALUES (?, ?, ?) "
                "ON CONFLICT (projection, key) DO UPDATE SET body = excluded.body",
                [(projection, key, body) for key, body in items],
            )
            cur.execute(
                "INSERT INTO th_tracking (projection, position) VALUES (?, ?) "
                "ON CONFLICT (projection) DO UPDATE SET position = excluded.position",
                (projection, position),
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()


class PostgresReadModel:
    """Read model in PostgreSQL, in the event store's schema."""

    def __init__(self, location: StoreLocation) -> None:
        self.connect = postgres_connector(location)
        self.prefix = f'"{location.schema}".' if location.schema else ""
        self.conn = self.connect()
        if location.schema:
            self.conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{location.schema}"')
        for ddl in _TABLES:
            self.conn.execute(ddl.format(p=self.prefix))

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self.conn.closed or self.conn.broken:
            self.conn = self.connect()
        return self.conn.execute(sql.format(p=self.prefix), params).fetchall()

    def position(self, projection: str) -> int:
        rows = self._query("SELECT position FROM {p}th_tracking WHERE projection = %s",
                           (projection,))
        return int(rows[0][0]) if rows else 0

    def get(self, projection: str, key: str) -> str | None:
        rows = self._query("SELECT body FROM {p}th_views WHERE projection = %s AND key = %s",
                           (projection, key))
        return str(rows[0][0]) if rows else None

    def all(self, projection: str) -> dict[str, str]:
        rows = self._query("SELECT key, body FROM {p}th_views WHERE projection = %s",
                           (projection,))
        return {str(k): str(b) for k, b in rows}

    def save(self, projection: str, bodies: dict[str, str], position: int) -> None:
        self._write(projection, bodies.items(), position, clear=False)

    def replace_all(self, projection: str, bodies: dict[str, str], position: int) -> None:
        self._write(projection, bodies.items(), position, clear=True)

    def _write(self, projection: str, items: Iterable[tuple[str, str]], position: int,
               clear: bool) -> None:
        if self.conn.closed or self.conn.broken:
            self.conn = self.connect()
        p = self.prefix
        with self.conn.transaction(), self.conn.cursor() as cur:
            if clear:
                cur.execute(f"DELETE FROM {p}th_views WHERE projection = %s",  # noqa: S608 - prefix is config
                            (projection,))
            cur.executemany(
                f"INSERT INTO {p}th_views (projection, key, body) VALUES (%s, %s, %s) "  # noqa: S608 - prefix is config
                "ON CONFLICT (projection, key) DO UPDATE SET body = excluded.body",
                [(projection, key, body) for key, body in items],
            )
            cur.execute(
                f"INSERT INTO {p}th_tracking (projection, position) VALUES (%s, %s) "  # noqa: S608 - prefix is config
                "ON CONFLICT (projection) DO UPDATE SET position = excluded.position",
                (projection, position),
            )

    def close(self) -> None:
        self.conn.close()


def open_read_model(location: StoreLocation) -> ReadModel:
    """The read model that lives beside the event store at ``location``."""
    if location.kind == "sqlite":
        base = Path(location.sqlite_path)
        return SQLiteReadModel(str(base.with_name(base.stem + "-views.sqlite")))
    return created_concurrently(lambda: PostgresReadModel(location))
