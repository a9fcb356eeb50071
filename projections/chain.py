"""Tamper evidence: a hash chain over the event store's notification log.

Every row of eventsourcing's events table (a pipeline event or a trail being started)
gets a *link* in a table of its own (``<events table>_chain``: position,
prev_position, hash), written in the same transaction as the row, by the recorder
below (PostgreSQL's is in :mod:`projections.chain_postgres`). The hash of the row at
position ``p`` is SHA-256 of these canonical bytes::

    b"tradehooks.chain.v1\\x00"
    prev_hash                      32 bytes (32 zero bytes before the first row)
    position                       8 bytes, unsigned big-endian (the notification id)
    originator_id                  16 bytes (the trail's UUID)
    originator_version             8 bytes, unsigned big-endian
    len(topic)  topic              4 bytes big-endian, then the topic in UTF-8
    len(state)  state              8 bytes big-endian, then the stored state bytes

``prev_hash`` is the hash of the previous row in notification order, so editing,
deleting, inserting or moving any row breaks the chain from that row on. Anyone with
write access can recompute a whole chain, which is why its head is also signed into
checkpoints (:mod:`projections.checkpoint`) with a key the store never sees.

Writers are serialised while they extend the chain: on PostgreSQL eventsourcing locks
the events table (EXCLUSIVE) before inserting, on SQLite the insert holds the write
lock; the chain is extended after the insert, in the same transaction, from the last
link to the newest row. A store written before the chain existed (or by an older
version during an upgrade) is therefore chained by the next write, and
:func:`upgrade_chain` chains it in batches when the store is opened.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

DOMAIN = b"tradehooks.chain.v1\x00"
GENESIS = bytes(32)
_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")

# (position, originator_id, originator_version, topic, state) of one events row.
Row = tuple[int, Any, int, str, bytes]
# (position, prev_position, hash) of one link.
Link = tuple[int, int, bytes]


def link_hash(prev: bytes, position: int, originator_id: UUID | str, version: int,
              topic: str, state: bytes) -> bytes:
    """The chain hash of one events row (the canonical bytes are in the module doc)."""
    oid = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
    digest = hashlib.sha256(DOMAIN)
    digest.update(prev)
    digest.update(_U64.pack(position))
    digest.update(oid.bytes)
    digest.update(_U64.pack(version))
    encoded = topic.encode()
    digest.update(_U32.pack(len(encoded)))
    digest.update(encoded)
    digest.update(_U64.pack(len(state)))
    digest.update(state)
    return digest.digest()


def links_for(rows: Sequence[Row], head: Link | None) -> list[Link]:
    """The links of ``rows`` (in position order) chained after ``head``."""
    prev_position, prev = (head[0], head[2]) if head else (0, GENESIS)
    links: list[Link] = []
    for position, oid, version, topic, state in rows:
        prev = link_hash(prev, position, oid, version, topic, bytes(state))
        links.append((position, prev_position, prev))
        prev_position = position
    return links


class ChainSQL(Protocol):
    """The statements one backend needs to read and extend the chain."""

    def head(self, cursor: Any) -> Link | None: ...
    def any_between(self, cursor: Any, after: int, before: int) -> bool: ...
    def rows_after(self, cursor: Any, position: int, limit: int | None) -> list[Row]: ...
    def links_after(self, cursor: Any, position: int, limit: int) -> list[Link]: ...
    def insert(self, cursor: Any, links: Sequence[Link]) -> None: ...
    def lock(self, cursor: Any) -> None: ...


def extend_chain(sql: ChainSQL, cursor: Any, limit: int | None = None) -> int:
    """Link the rows after the last link (up to ``limit``); returns how many.

    Must run in a transaction that holds the store's write lock.
    """
    head = sql.head(cursor)
    rows = sql.rows_after(cursor, head[0] if head else 0, limit)
    links = links_for(rows, head)
    if links:
        sql.insert(cursor, links)
    return len(links)


def extend_chain_with(sql: ChainSQL, cursor: Any, ids: Sequence[int] | None,
                      stored: Sequence[StoredEvent]) -> int:
    """Link the rows just inserted (``ids``, in the recorder's transaction) from the
    values in hand, without reading their states back; falls back to
    :func:`extend_chain` when rows before them are not linked yet (an upgrade)."""
    head = sql.head(cursor)
    start = head[0] if head else 0
    if (not ids or len(ids) != len(stored) or ids[0] <= start
            or any(a >= b for a, b in itertools.pairwise(ids))
            or sql.any_between(cursor, start, ids[0])):
        return extend_chain(sql, cursor)
    rows = [(i, s.originator_id, s.originator_version, s.topic, s.state)
            for i, s in zip(ids, stored, strict=True)]
    links = links_for(rows, head)
    sql.insert(cursor, links)
    return len(links)


class SQLiteChain:
    """The chain's statements on SQLite (the notification id is the rowid)."""

    def __init__(self, events_table: str) -> None:
        self.events = events_table
        self.table = f"{events_table}_chain"

    def create(self) -> str:
        """The chain table's CREATE statement."""
        return (f"CREATE TABLE IF NOT EXISTS {self.table} (position INTEGER PRIMARY KEY, "
                "prev_position INTEGER NOT NULL, hash BLOB NOT NULL)")

    def head(self, cursor: Any) -> Link | None:
        """The last link, if any."""
        cursor.execute(f"SELECT position, prev_position, hash FROM {self.table} "  # noqa: S608 - table names from the recorder
                       "ORDER BY position DESC LIMIT 1")
        row = cursor.fetchone()
        return (row[0], row[1], bytes(row[2])) if row else None

    def any_between(self, cursor: Any, after: int, before: int) -> bool:
        """True when an events row lies strictly between the two positions."""
        cursor.execute(f"SELECT 1 FROM {self.events} WHERE rowid > ? AND rowid < ? "  # noqa: S608
                       "LIMIT 1", (after, before))
        return cursor.fetchone() is not None

    def rows_after(self, cursor: Any, position: int, limit: int | None) -> list[Row]:
        """Events rows after ``position``, oldest first."""
        cursor.execute(f"SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608
                       f"FROM {self.events} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                       (position, -1 if limit is None else limit))
        return [(r[0], r[1], r[2], r[3], r[4]) for r in cursor.fetchall()]

    def links_after(self, cursor: Any, position: int, limit: int) -> list[Link]:
        """Links after ``position``, oldest first."""
        cursor.execute(f"SELECT position, prev_position, hash FROM {self.table} "  # noqa: S608
                       "WHERE position > ? ORDER BY position LIMIT ?", (position, limit))
        return [(r[0], r[1], bytes(r[2])) for r in cursor.fetchall()]

    def insert(self, cursor: Any, links: Sequence[Link]) -> None:
        """Store new links."""
        cursor.executemany(f"INSERT INTO {self.table} (position, prev_position, hash) "  # noqa: S608
                           "VALUES (?, ?, ?)", links)

    def lock(self, cursor: Any) -> None:
        """Take the write lock now (a deferred transaction would read a snapshot an
        inserter may have moved past before it could write)."""
        cursor.execute(f"DELETE FROM {self.table} WHERE position < 0")  # noqa: S608


class ChainedSQLiteRecorder(SQLiteApplicationRecorder):
    """eventsourcing's SQLite recorder, extending the chain in each insert's transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chain = SQLiteChain(self.events_table_name)
        self.create_table_statements.append(self.chain.create())

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        extend_chain_with(self.chain, c, ids, stored_events)
        return ids


def chain_of(recorder: Any) -> ChainSQL:
    """The chain statements of a store's recorder (:class:`ChainedSQLiteRecorder`, or
    :class:`projections.chain_postgres.ChainedPostgresRecorder`)."""
    chain: ChainSQL | None = getattr(recorder, "chain", None)
    if chain is None:
        raise TypeError(f"the store's recorder {type(recorder).__name__} keeps no chain")
    return chain


def upgrade_chain(recorder: Any, batch: int = 10_000) -> int:
    """Link every events row that has no link yet (a store written before the chain
    existed), ``batch`` rows per transaction; returns how many were linked."""
    sql = chain_of(recorder)
    with read_transaction(recorder) as cursor:
        head = sql.head(cursor)
        if not sql.rows_after(cursor, head[0] if head else 0, 1):
            return 0  # every row is linked: no lock taken (a reader may open the store)
    total = 0
    while True:
        with write_transaction(recorder) as cursor:
            sql.lock(cursor)
            done = extend_chain(sql, cursor, batch)
        total += done
        if done < batch:
            return total


def write_transaction(recorder: Any) -> Any:
    """A cursor in a write transaction of the recorder's database (tuple rows)."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        return recorder.datastore.transaction(commit=True)
    return recorder.chain_transaction(write=True)  # ChainedPostgresRecorder


def read_transaction(recorder: Any) -> Any:
    """A cursor in a read-only transaction (one snapshot on PostgreSQL)."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        return recorder.datastore.transaction(commit=False)
    return recorder.chain_transaction(write=False)  # ChainedPostgresRecorder
