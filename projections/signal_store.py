"""Tables of the signal history, indexed for the newest-first queries of the API.

Beside the account views (the same SQLite file, or the store's PostgreSQL schema),
each ``save`` writes rows, their search terms, account touches and the tracking
position in one transaction. Every list query walks an index in
``(received_us, seq)`` order and stops after one page, so its cost does not grow
with the number of stored signals.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from projections.persistence import StoreLocation, created_concurrently, postgres_connector
from projections.signals import AccountTouch, SignalRow, decode_row, encode_row

if TYPE_CHECKING:
    import psycopg

PROJECTION = "signals"

_DDL = (
    "CREATE TABLE IF NOT EXISTS {p}th_signals ("
    " signal_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, strategy_id TEXT NOT NULL,"
    " account_id TEXT NOT NULL, symbol TEXT NOT NULL, status TEXT NOT NULL,"
    " received_us BIGINT NOT NULL, seq BIGINT NOT NULL, pos BIGINT NOT NULL,"
    " body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}th_signal_terms ("
    " term TEXT NOT NULL, received_us BIGINT NOT NULL, seq BIGINT NOT NULL,"
    " signal_id TEXT NOT NULL, PRIMARY KEY (term, received_us, seq, signal_id))",
    "CREATE TABLE IF NOT EXISTS {p}th_account_touches ("
    " account_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, pos BIGINT NOT NULL,"
    " cause TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}th_tracking ("
    " projection TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    # One index per filter, each in the answer's order (newest first).
    "CREATE INDEX IF NOT EXISTS th_signals_time ON {p}th_signals (received_us, seq)",
    "CREATE INDEX IF NOT EXISTS th_signals_tenant ON {p}th_signals"
    " (tenant_id, received_us, seq)",
    "CREATE INDEX IF NOT EXISTS th_signals_strategy ON {p}th_signals"
    " (strategy_id, received_us, seq)",
    "CREATE INDEX IF NOT EXISTS th_signals_account ON {p}th_signals"
    " (account_id, received_us, seq)",
    "CREATE INDEX IF NOT EXISTS th_signals_symbol ON {p}th_signals"
    " (symbol, received_us, seq)",
    "CREATE INDEX IF NOT EXISTS th_signals_status ON {p}th_signals"
    " (status, received_us, seq)",
    "CREATE INDEX IF NOT EXISTS th_signals_pos ON {p}th_signals (pos)",
    "CREATE INDEX IF NOT EXISTS th_account_touches_pos ON {p}th_account_touches (pos)",
)

_UPSERT_ROW = (
    "INSERT INTO {p}th_signals (signal_id, tenant_id, strategy_id, account_id, symbol,"
    " status, received_us, seq, pos, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (signal_id) DO UPDATE SET tenant_id = excluded.tenant_id,"
    " strategy_id = excluded.strategy_id, account_id = excluded.account_id,"
    " symbol = excluded.symbol, status = excluded.status, pos = excluded.pos,"
    " body = excluded.body")
_INSERT_TERM = ("INSERT INTO {p}th_signal_terms (term, received_us, seq, signal_id)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
_UPSERT_TOUCH = (
    "INSERT INTO {p}th_account_touches (account_id, tenant_id, pos, cause)"
    " VALUES (?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET"
    " tenant_id = excluded.tenant_id, pos = excluded.pos, cause = excluded.cause")
_TRACK = ("INSERT INTO {p}th_tracking (projection, position) VALUES (?, ?)"
          " ON CONFLICT (projection) DO UPDATE SET position = excluded.position")


@dataclass(frozen=True)
class SignalQuery:
    """A page request of the history: every filter optional, ``tenant_id`` None = all."""

    tenant_id: str | None = None
    strategy_id: str | None = None
    account_id: str | None = None
    status: str | None = None
    symbol: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    q: str | None = None
    before: tuple[int, int] | None = None  # the cursor: (received_us, seq) of the last row
    limit: int = 50


_FILTERS = ("tenant_id", "strategy_id", "account_id", "status", "symbol")
# The index to walk when several filters are given: the most selective first (a
# strategy has fewer signals than its account, an account than its tenant …).
# PostgreSQL's planner chooses by its statistics; SQLite is told, as it has none.
_INDEX_ORDER = (("strategy_id", "th_signals_strategy"), ("account_id", "th_signals_account"),
                ("symbol", "th_signals_symbol"), ("tenant_id", "th_signals_tenant"),
                ("status", "th_signals_status"))


def _best_index(query: SignalQuery) -> str:
    for column, index in _INDEX_ORDER:
        if getattr(query, column) is not None:
            return index
    return "th_signals_time"


def _where(query: SignalQuery, alias: str) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column in _FILTERS:
        value = getattr(query, column)
        if value is not None:
            clauses.append(f"{alias}.{column} = ?")
            params.append(value)
    return clauses, params


def _row_params(row: SignalRow) -> tuple[Any, ...]:
    return (row.signal_id, row.tenant_id, row.strategy_id, row.account_id, row.symbol,
            row.status, row.received_us, row.seq, row.pos, encode_row(row))


class _Sql(Protocol):
    """The two backends' common ground: ``?`` placeholders, ``{p}`` table prefix."""

    index_hints: bool

    def rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...
    def write(self) -> Any: ...
    def close(self) -> None: ...


class _SQLite:
    index_hints = True

    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, timeout=10, check_same_thread=False,
                                    isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        for ddl in _DDL:
            self.conn.execute(ddl.format(p=""))

    def rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql.format(p=""), tuple(params)).fetchall()

    @contextmanager
    def write(self) -> Iterator[Any]:
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield lambda sql, many: cur.executemany(sql.format(p=""), many)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()


class _Postgres:
    index_hints = False

    def __init__(self, location: StoreLocation) -> None:
        self.connect = postgres_connector(location)
        self.prefix = f'"{location.schema}".' if location.schema else ""
        self.conn = self.connect()
        if location.schema:
            self.conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{location.schema}"')
        for ddl in _DDL:
            self.conn.execute(self._sql(ddl))

    def _sql(self, sql: str) -> Any:
        return sql.format(p=self.prefix).replace("?", "%s")

    def _conn(self) -> psycopg.Connection[Any]:
        if self.conn.closed or self.conn.broken:
            self.conn = self.connect()
        return self.conn

    def rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._conn().execute(self._sql(sql), tuple(params), prepare=True).fetchall()

    @contextmanager
    def write(self) -> Iterator[Any]:
        conn = self._conn()
        with conn.transaction(), conn.cursor() as cur:
            yield lambda sql, many: cur.executemany(self._sql(sql), many)

    def close(self) -> None:
        self.conn.close()


class SignalStore:
    """The signal history's tables on one backend."""

    def __init__(self, sql: _Sql) -> None:
        self.sql = sql

    # --- the projector's side ---------------------------------------------------

    def position(self) -> int:
        """The store position the history is built up to."""
        rows = self.sql.rows("SELECT position FROM {p}th_tracking WHERE projection = ?",
                             (PROJECTION,))
        return int(rows[0][0]) if rows else 0

    def load(self, signal_ids: Iterable[str]) -> dict[str, SignalRow]:
        """The stored rows of ``signal_ids`` (those that exist)."""
        ids = list(signal_ids)
        found: dict[str, SignalRow] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            for (body,) in self.sql.rows(
                    f"SELECT body FROM {{p}}th_signals WHERE signal_id IN ({marks})",  # noqa: S608
                    chunk):
                row = decode_row(body)
                found[row.signal_id] = row
        return found

    def save(self, rows: Iterable[SignalRow], touches: Iterable[AccountTouch],
             position: int, replace: bool = False) -> None:
        """Write rows, their terms, account touches and the position atomically;
        ``replace`` first empties the tables (a replay)."""
        rows = list(rows)
        with self.sql.write() as many:
            if replace:
                for table in ("th_signals", "th_signal_terms", "th_account_touches"):
                    many(f"DELETE FROM {{p}}{table}", [()])  # noqa: S608 - fixed names  # noqa: S608 - fixed names
            many(_UPSERT_ROW, [_row_params(r) for r in rows])
            many(_INSERT_TERM, [(t, r.received_us, r.seq, r.signal_id)
                                for r in rows for t in sorted(r.terms())])
            many(_UPSERT_TOUCH, [(t.account_id, t.tenant_id, t.pos, t.cause)
                                 for t in touches])
            many(_TRACK, [(PROJECTION, position)])

    def dump(self) -> tuple[list[str], list[tuple[str, str, int, str]]]:
        """Every row body and account touch, in key order (to compare two builds)."""
        bodies = [str(b) for (b,) in self.sql.rows(
            "SELECT body FROM {p}th_signals ORDER BY signal_id", ())]
        touches = [(str(a), str(t), int(p), str(c)) for a, t, p, c in self.sql.rows(
            "SELECT account_id, tenant_id, pos, cause FROM {p}th_account_touches"
            " ORDER BY account_id", ())]
        return bodies, touches

    # --- the API's side -----------------------------------------------------------

    def page(self, query: SignalQuery) -> list[SignalRow]:
        """Up to ``query.limit`` rows matching it, newest first, after its cursor."""
        if query.q is not None:
            return self._search(query)
        clauses, params = _where(query, "s")
        clauses, params = self._window(query, "s", clauses, params)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        hint = f"INDEXED BY {_best_index(query)} " if self.sql.index_hints else ""
        sql = (f"SELECT s.body FROM {{p}}th_signals s {hint}{where}"  # noqa: S608 - fixed
               " ORDER BY s.received_us DESC, s.seq DESC LIMIT ?")
        return [decode_row(b) for (b,) in self.sql.rows(sql, [*params, query.limit])]

    def _search(self, query: SignalQuery) -> list[SignalRow]:
        # The terms table is in (term, time) order: one term's newest rows first.
        clauses, params = _where(query, "s")
        clauses, params = self._window(query, "t", clauses, params)
        clauses.insert(0, "t.term = ?")
        params.insert(0, (query.q or "").lower())
        sql = ("SELECT s.body FROM {p}th_signal_terms t"  # noqa: S608 - fixed columns
               " JOIN {p}th_signals s ON s.signal_id = t.signal_id"
               f" WHERE {' AND '.join(clauses)}"
               " ORDER BY t.received_us DESC, t.seq DESC LIMIT ?")
        return [decode_row(b) for (b,) in self.sql.rows(sql, [*params, query.limit])]

    @staticmethod
    def _window(query: SignalQuery, alias: str, clauses: list[str],
                params: list[Any]) -> tuple[list[str], list[Any]]:
        if query.since_us is not None:
            clauses.append(f"{alias}.received_us >= ?")
            params.append(query.since_us)
        if query.until_us is not None:
            clauses.append(f"{alias}.received_us < ?")
            params.append(query.until_us)
        if query.before is not None:
            clauses.append(f"({alias}.received_us, {alias}.seq) < (?, ?)")
            params.extend(query.before)
        return clauses, params

    def changed_since(self, pos: int, tenant_id: str | None, limit: int = 500,
                      ) -> list[SignalRow]:
        """Rows last changed after store position ``pos``, oldest change first."""
        tenant = " AND tenant_id = ?" if tenant_id is not None else ""
        params: list[Any] = [pos, *([tenant_id] if tenant_id is not None else []), limit]
        sql = (f"SELECT body FROM {{p}}th_signals WHERE pos > ?{tenant}"  # noqa: S608
               " ORDER BY pos LIMIT ?")
        return [decode_row(b) for (b,) in self.sql.rows(sql, params)]

    def accounts_touched_since(self, pos: int, tenant_id: str | None,
                               limit: int = 500) -> list[AccountTouch]:
        """Accounts whose state last changed after store position ``pos``."""
        tenant = " AND tenant_id = ?" if tenant_id is not None else ""
        params: list[Any] = [pos, *([tenant_id] if tenant_id is not None else []), limit]
        sql = ("SELECT account_id, tenant_id, pos, cause FROM {p}th_account_touches"  # noqa: S608
               f" WHERE pos > ?{tenant} ORDER BY pos LIMIT ?")
        return [AccountTouch(account_id=a, tenant_id=t, pos=int(p), cause=c)
                for a, t, p, c in self.sql.rows(sql, params)]

    def close(self) -> None:
        """Close the connection."""
        self.sql.close()


def open_signal_store(location: StoreLocation) -> SignalStore:
    """The signal history beside the event store at ``location``."""
    if location.kind == "sqlite":
        base = Path(location.sqlite_path)
        return SignalStore(_SQLite(str(base.with_name(base.stem + "-views.sqlite"))))
    return created_concurrently(lambda: SignalStore(_Postgres(location)))
