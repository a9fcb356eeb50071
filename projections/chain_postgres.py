"""The tamper-evidence chain (:mod:`projections.chain`) on PostgreSQL: its statements,
the recorder that extends it in each insert's transaction, and transactions of the
recorder's pool. Apart from the chain so that a process on SQLite never imports
psycopg."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composed, Identifier

from projections.chain import Link, Row, extend_chain_with


class PostgresChain:
    """The chain's statements on PostgreSQL."""

    def __init__(self, schema: str, events_table: str) -> None:
        self.schema = schema
        self.events = events_table
        self.table = f"{events_table}_chain"

    def _q(self, text: str) -> Composed:
        return SQL(text).format(events=Identifier(self.schema, self.events),
                                chain=Identifier(self.schema, self.table))

    def create(self) -> Composed:
        """The chain table's CREATE statement."""
        return self._q("CREATE TABLE IF NOT EXISTS {chain} (position BIGINT PRIMARY KEY, "
                       "prev_position BIGINT NOT NULL, hash BYTEA NOT NULL)")

    def head(self, cursor: Any) -> Link | None:
        """The last link, if any."""
        cursor.execute(self._q("SELECT position, prev_position, hash FROM {chain} "
                               "ORDER BY position DESC LIMIT 1"))
        row = cursor.fetchone()
        return (row[0], row[1], bytes(row[2])) if row else None

    def any_between(self, cursor: Any, after: int, before: int) -> bool:
        """True when an events row lies strictly between the two positions."""
        cursor.execute(self._q("SELECT 1 FROM {events} WHERE notification_id > %s "
                               "AND notification_id < %s LIMIT 1"), (after, before))
        return cursor.fetchone() is not None

    def rows_after(self, cursor: Any, position: int, limit: int | None) -> list[Row]:
        """Events rows after ``position``, oldest first."""
        cursor.execute(self._q("SELECT notification_id, originator_id, originator_version, "
                               "topic, state FROM {events} WHERE notification_id > %s "
                               "ORDER BY notification_id LIMIT %s"), (position, limit))
        return [(r[0], r[1], r[2], r[3], bytes(r[4])) for r in cursor.fetchall()]

    def links_after(self, cursor: Any, position: int, limit: int) -> list[Link]:
        """Links after ``position``, oldest first."""
        cursor.execute(self._q("SELECT position, prev_position, hash FROM {chain} "
                               "WHERE position > %s ORDER BY position LIMIT %s"),
                       (position, limit))
        return [(r[0], r[1], bytes(r[2])) for r in cursor.fetchall()]

    def insert(self, cursor: Any, links: Sequence[Link]) -> None:
        """Store new links."""
        cursor.executemany(self._q("INSERT INTO {chain} (position, prev_position, hash) "
                                   "VALUES (%s, %s, %s)"), links)

    def lock(self, cursor: Any) -> None:
        """The lock eventsourcing takes before inserting events."""
        cursor.execute(self._q("LOCK TABLE {events} IN EXCLUSIVE MODE"))


class ChainedPostgresRecorder(PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL recorder, extending the chain in each insert's
    transaction (after the insert, which took the table lock)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chain = PostgresChain(self.datastore.schema or "public", self.events_table_name)
        self.sql_create_statements.append(self.chain.create())

    def _fetch_ids_after_insert_events(self, curs: Cursor[DictRow],
                                       stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        with curs.connection.cursor(row_factory=tuple_row) as cursor:
            extend_chain_with(self.chain, cursor, ids, stored_events)
        return ids

    @contextmanager
    def chain_transaction(self, write: bool) -> Iterator[Any]:
        """A tuple-row cursor in a transaction of the recorder's pool (read-only, one
        snapshot, unless ``write``)."""
        with self.datastore.get_connection() as conn, conn.transaction():
            if not write:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            with conn.cursor(row_factory=tuple_row, binary=True) as cursor:
                yield cursor
