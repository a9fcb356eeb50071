"""The fast path of reading the notification log, for replay and catch-up.

eventsourcing's general path builds a ``Notification`` per row (with a UUID parsed
from its text form on SQLite), decodes the whole state with the stdlib JSON
decoder and an object hook, and the store then converts the body into an event.
Replaying a million events that way ran at 10,000 events/s on SQLite and 8,000 on
PostgreSQL (2 shared cores). Here the rows of the recorder's own table are read as
plain tuples, and a ``Trail.Recorded`` state is decoded by msgspec straight into
the event, or only peeked at for its type when the reader does not want it.

The result is exactly what the general path gives (a test compares them): the fast
decoder is used only when the store keeps states as eventsourcing's plain JSON
(no cipher, no compressor, the default transcoder) and the state holds no other
tagged value than its timestamp; in every other case it returns None and the
caller takes the general path.
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec
from eventsourcing.persistence import JSONTranscoder, Mapper
from eventsourcing.sqlite import SQLiteApplicationRecorder

from contracts.events import AnyEvent

Row = tuple[int, str, bytes]

# The JSON transcoder writes a datetime, UUID or Decimal as {"_type_": .., "_data_": ..}.
# A Recorded state has exactly one (its timestamp); any other would be decoded into
# an object by the general path, so such a state is left to it.
_TAG = b'"_type_"'


class _RecordedState(msgspec.Struct):
    """The part of a stored ``Trail.Recorded`` state that replay needs."""

    body: AnyEvent


class _Envelope(msgspec.Struct):
    """A ``Trail.Recorded`` state with its body left undecoded."""

    event_type: str
    body: msgspec.Raw


# strict=False: the general path converts bodies with msgspec.convert(strict=False).
_state_decoder = msgspec.json.Decoder(_RecordedState, strict=False)
_body_decoder = msgspec.json.Decoder(AnyEvent, strict=False)
_envelope_decoder = msgspec.json.Decoder(_Envelope)


def can_decode_fast(mapper: Mapper[Any]) -> bool:
    """True when stored states are eventsourcing's plain JSON (see the module doc)."""
    return (mapper.cipher is None and mapper.compressor is None
            and type(mapper.transcoder) is JSONTranscoder)


def decode_recorded(state: bytes) -> AnyEvent | None:
    """The pipeline event in a ``Trail.Recorded`` state, or None to take the slow path."""
    if state.count(_TAG) != 1:
        return None
    try:
        return _state_decoder.decode(state).body
    except msgspec.DecodeError:  # e.g. NaN, which only the stdlib decoder reads
        return None


def peek_recorded(state: bytes) -> tuple[str, bytes] | None:
    """The event type and raw JSON body of a ``Trail.Recorded`` state (None: slow path).

    Scanning past a body is cheaper than decoding it, so a projection that needs
    few types decodes only those (with :func:`decode_body`).
    """
    try:
        envelope = _envelope_decoder.decode(state)
    except msgspec.DecodeError:
        return None
    return envelope.event_type, bytes(envelope.body)


def decode_body(body: bytes) -> AnyEvent | None:
    """The event of a raw body from :func:`peek_recorded`, or None to take the slow path."""
    if _TAG in body:  # the state's only tag, its timestamp, is outside the body
        return None
    try:
        return _body_decoder.decode(body)
    except msgspec.DecodeError:
        return None


def _is_postgres(recorder: Any) -> bool:
    """Whether ``recorder`` is eventsourcing's PostgreSQL recorder. Its module is only
    looked at when loaded: no such recorder exists otherwise, and loading it (psycopg)
    costs a process on SQLite about 0.1 s of CPU."""
    module = sys.modules.get("eventsourcing.postgres")
    return module is not None and isinstance(recorder, module.PostgresApplicationRecorder)


def select_rows(recorder: Any, after: int, limit: int) -> list[Row]:
    """Notification id, topic and state of up to ``limit`` rows after ``after``.

    Reads the recorder's table directly on SQLite and PostgreSQL (the columns are
    eventsourcing's); any other recorder goes through ``select_notifications``.
    """
    if isinstance(recorder, SQLiteApplicationRecorder):
        statement = (f"SELECT rowid, topic, state FROM {recorder.events_table_name} "  # noqa: S608 - table name from the recorder
                     "WHERE rowid > ? ORDER BY rowid LIMIT ?")
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, (after, limit))
            return [(row[0], row[1], row[2]) for row in cursor.fetchall()]
    if _is_postgres(recorder):
        # Imported here: a process on SQLite never loads psycopg.
        from psycopg.rows import tuple_row
        from psycopg.sql import SQL, Identifier

        query = SQL("SELECT notification_id, topic, state FROM {schema}.{table} "
                    "WHERE notification_id > %s ORDER BY notification_id LIMIT %s").format(
            schema=Identifier(recorder.datastore.schema),
            table=Identifier(recorder.events_table_name))
        # Binary results: bytea arrives as bytes instead of hex text to decode.
        with (recorder.datastore.get_connection() as conn,
              conn.cursor(row_factory=tuple_row, binary=True) as cursor):
            cursor.execute(query, (after, limit), prepare=True)
            return [(nid, topic, bytes(state)) for nid, topic, state in cursor.fetchall()]
    notifications = recorder.select_notifications(start=after, limit=limit,
                                                  inclusive_of_start=False)
    return [(n.id, n.topic, n.state) for n in notifications]


def select_rows_at(recorder: Any, positions: list[int]) -> list[Row]:
    """Notification id, topic and state of the rows at ``positions`` (sorted), in order."""
    out: list[Row] = []
    for start in range(0, len(positions), 500):
        chunk = positions[start:start + 500]
        if isinstance(recorder, SQLiteApplicationRecorder):
            marks = ",".join("?" * len(chunk))
            statement = (f"SELECT rowid, topic, state FROM {recorder.events_table_name} "  # noqa: S608 - table name from the recorder
                         f"WHERE rowid IN ({marks}) ORDER BY rowid")
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(statement, chunk)
                out.extend((row[0], row[1], row[2]) for row in cursor.fetchall())
            continue
        from psycopg.rows import tuple_row  # as in select_rows
        from psycopg.sql import SQL, Identifier

        query = SQL("SELECT notification_id, topic, state FROM {schema}.{table} "
                    "WHERE notification_id = ANY(%s) ORDER BY notification_id").format(
            schema=Identifier(recorder.datastore.schema),
            table=Identifier(recorder.events_table_name))
        with (recorder.datastore.get_connection() as conn,
              conn.cursor(row_factory=tuple_row, binary=True) as cursor):
            cursor.execute(query, (chunk,))
            out.extend((nid, topic, bytes(state)) for nid, topic, state in cursor.fetchall())
    return out
