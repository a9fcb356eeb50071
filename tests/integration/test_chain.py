"""The tamper-evidence chain on SQLite and PostgreSQL: every edit, deletion, reordering
and insertion of stored rows is found by ``verify``, and a signed checkpoint finds
what the chain alone cannot (a truncated end, a recomputed chain)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.application import Application
from factories import make_received, make_validated
from harness import BACKENDS
from psycopg import sql

from cli.main import main
from contracts.events import AnyEvent
from projections import checkpoint as cp
from projections.chain import chain_of, links_for, read_transaction, upgrade_chain
from projections.persistence import eventsourcing_env, parse_store_url
from projections.store import EventStore, open_store
from projections.verify import Expected, verify_chain

pytestmark = pytest.mark.parametrize("store_url", BACKENDS, indirect=True)


def signals(prefix: str, count: int) -> list[AnyEvent]:
    """Two events for each of ``count`` signals (each trail starts with a bookkeeping row)."""
    out: list[AnyEvent] = []
    for i in range(count):
        out.append(make_received(event_id=f"{prefix}-{i}-r", signal_id=f"{prefix}-{i}"))
        out.append(make_validated(event_id=f"{prefix}-{i}-v", signal_id=f"{prefix}-{i}"))
    return out


class Rows:
    """Direct SQL on the store's events table, as someone with database access would."""

    def __init__(self, url: str) -> None:
        self.location = parse_store_url(url)

    def run(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        if self.location.kind == "sqlite":
            with sqlite3.connect(self.location.sqlite_path) as conn:
                for text, params in statements:
                    conn.execute(text.format(events="stored_events", pos="rowid"), params)
            return
        url = self._pg_url()
        with psycopg.connect(url) as conn:
            table = sql.Identifier(self.location.schema, "tradehooks_events")
            for text, params in statements:
                query = sql.SQL(text.replace("{events}", "{e}")).format(
                    e=table, pos=sql.Identifier("notification_id"))
                conn.execute(query, params)

    def _pg_url(self) -> str:
        loc = self.location
        return f"postgresql://{loc.user}@{loc.host}:{loc.port}/{loc.dbname}"

    def edit(self, position: int) -> None:
        """One more space at the end of the row's state (still valid JSON)."""
        self.run([("UPDATE {events} SET state = state || %s WHERE {pos} = %s", (b" ", position))
                  if self.location.kind == "postgres" else
                  ("UPDATE {events} SET state = CAST(CAST(state AS TEXT) || ' ' AS BLOB) "
                   "WHERE {pos} = ?", (position,))])

    def delete(self, position: int) -> None:
        self.run([(self._p("DELETE FROM {events} WHERE {pos} = ?"), (position,))])

    def swap(self, a: int, b: int) -> None:
        move = self._p("UPDATE {events} SET {pos} = ? WHERE {pos} = ?")
        self.run([(move, (-1, a)), (move, (a, b)), (move, (b, -1))])

    def insert_copy(self, position: int) -> None:
        """A copy of a row under another trail id, appended at the end of the log."""
        copy = self._p("INSERT INTO {events} (originator_id, originator_version, topic, state) "
                       "SELECT ?, originator_version, topic, state FROM {events} "
                       "WHERE {pos} = ?")
        forged = "0" * 31 + "1"
        self.run([(copy, (forged if self.location.kind == "sqlite" else
                          "00000000-0000-0000-0000-000000000001", position))])

    def _p(self, text: str) -> str:
        return text.replace("?", "%s") if self.location.kind == "postgres" else text


def test_an_untouched_store_verifies_and_every_row_is_linked(store: EventStore) -> None:
    store.append(signals("a", 5))
    store.append(signals("b", 3))
    store.append(signals("a", 5))  # redelivered: nothing new, the chain unchanged

    report = verify_chain(store.recorder)

    assert report.ok, report.first_break
    assert report.events == store.max_position() == 8 * 3
    assert report.head_position == store.max_position()


@pytest.mark.parametrize(("tamper", "position", "kind"), [
    (lambda rows: rows.edit(7), 7, "altered"),
    (lambda rows: rows.delete(7), 7, "deleted"),
    (lambda rows: rows.swap(4, 10), 4, "altered"),
    (lambda rows: rows.insert_copy(5), 16, "inserted"),
], ids=["edited", "deleted", "reordered", "inserted"])
def test_verify_reports_the_first_break_and_its_position(
    store: EventStore, url: str, tamper: Any, position: int, kind: str,
) -> None:
    store.append(signals("a", 5))  # positions 1..15
    tamper(Rows(url))

    report = verify_chain(store.recorder)

    assert report.first_break is not None
    assert (report.first_break.position, report.first_break.kind) == (position, kind)
    assert report.events == position - 1  # every row before the break checked out
    assert report.head_position == position - 1


def test_a_row_deleted_with_its_link_breaks_the_next_row(store: EventStore, url: str) -> None:
    store.append(signals("a", 3))
    Rows(url).delete(4)
    _delete_link(url, 4)

    report = verify_chain(store.recorder)

    assert report.first_break is not None
    assert (report.first_break.position, report.first_break.kind) == (5, "deleted")
    assert "chained after position 4" in report.first_break.detail


def _checkpoint_of(store: EventStore, key: Any) -> cp.Checkpoint:
    report = verify_chain(store.recorder)
    return cp.sign(key, store="test", position=report.head_position,
                   head_hash=report.head_hash, events=report.events,
                   now=datetime(2026, 12, 2, tzinfo=UTC))


def test_a_checkpoint_finds_a_truncated_end(store: EventStore, url: str) -> None:
    key = cp.Ed25519PrivateKey.generate()
    store.append(signals("a", 3))  # 1..9
    signed = _checkpoint_of(store, key)
    store.append(signals("b", 1))  # 10..12: after the checkpoint, still covered by it
    expected = Expected(signed.position, bytes.fromhex(signed.hash))
    assert verify_chain(store.recorder, expected).ok

    for position in (12, 11, 10, 9):  # the newest rows and their links, as a clean cut
        Rows(url).delete(position)
        _delete_link(url, position)

    assert verify_chain(store.recorder).ok  # the chain alone cannot see a clean cut
    report = verify_chain(store.recorder, expected)
    assert report.first_break is not None
    assert (report.first_break.position, report.first_break.kind) == (9, "truncated")


def test_a_checkpoint_finds_a_recomputed_chain(store: EventStore, url: str) -> None:
    key = cp.Ed25519PrivateKey.generate()
    store.append(signals("a", 3))
    signed = _checkpoint_of(store, key)
    Rows(url).edit(5)
    # The forger recomputes every link from the edited row on.
    _delete_link(url, None)
    assert upgrade_chain(store.recorder) == 9
    assert verify_chain(store.recorder).ok

    report = verify_chain(store.recorder, Expected(signed.position, bytes.fromhex(signed.hash)))

    assert report.first_break is not None
    assert (report.first_break.position, report.first_break.kind) == (9, "checkpoint")


def _delete_link(url: str, position: int | None) -> None:
    """Delete the link at ``position`` (every link when None)."""
    location = parse_store_url(url)
    first, last = (0, 2**62) if position is None else (position, position)
    if location.kind == "sqlite":
        with sqlite3.connect(location.sqlite_path) as conn:
            conn.execute("DELETE FROM stored_events_chain WHERE position BETWEEN ? AND ?",
                         (first, last))
        return
    with psycopg.connect(Rows(url)._pg_url()) as conn:
        conn.execute(sql.SQL("DELETE FROM {} WHERE position BETWEEN %s AND %s").format(
            sql.Identifier(location.schema, "tradehooks_events_chain")), (first, last))


def test_a_store_written_without_the_chain_is_linked_on_upgrade(url: str) -> None:
    # The store as the previous version wrote it: eventsourcing's own recorder.
    env = eventsourcing_env(parse_store_url(url))
    env.pop("APPLICATION_RECORDER_TOPIC")
    old = EventStore(env=env)
    old.append(signals("old", 4))
    old.close()
    assert isinstance(old, Application)

    upgraded = open_store(url)  # the migration: links the 12 rows already stored
    try:
        upgraded.append(signals("new", 2))
        report = verify_chain(upgraded.recorder)
        assert report.ok, report.first_break
        assert report.events == 18
        assert upgrade_chain(upgraded.recorder) == 0  # nothing left to link
    finally:
        upgraded.close()


def test_a_write_before_the_upgrade_links_the_old_rows_too(url: str) -> None:
    env = eventsourcing_env(parse_store_url(url))
    env.pop("APPLICATION_RECORDER_TOPIC")
    old = EventStore(env=env)
    old.append(signals("old", 2))
    old.close()

    store = open_store(url, upgrade=False)
    try:
        store.append(signals("new", 1))
        report = verify_chain(store.recorder)
        assert report.ok, report.first_break
        assert report.events == 9
    finally:
        store.close()


def test_concurrent_writers_keep_one_unbroken_chain(url: str) -> None:
    writers = [open_store(url) for _ in range(2)]
    barrier = threading.Barrier(2)

    def write(index: int) -> None:
        barrier.wait()
        for batch in range(10):
            writers[index].append(signals(f"w{index}-{batch}", 3))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        report = verify_chain(writers[0].recorder)
        assert report.ok, report.first_break
        assert report.events == writers[0].max_position() == 2 * 10 * 3 * 3
    finally:
        for writer in writers:
            writer.close()


def test_the_links_are_what_the_documented_hash_gives(store: EventStore) -> None:
    store.append(signals("a", 2))
    chain = chain_of(store.recorder)
    with read_transaction(store.recorder) as cursor:
        rows = chain.rows_after(cursor, 0, None)
        links = chain.links_after(cursor, 0, 100)

    assert links == links_for(rows, None)


def test_cli_verify_and_checkpoint(url: str, store: EventStore, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRADEHOOKS_DATABASE_URL", url)
    store.append(signals("a", 3))
    key = tmp_path / "keys" / "checkpoint.key"
    key.parent.mkdir()
    assert main(["checkpoint-key", str(key)]) == 0
    signed = tmp_path / "head.json"
    assert main(["checkpoint", "--key", str(key), "--out", str(signed)]) == 0
    capsys.readouterr()

    assert main(["verify", "--checkpoint", str(signed),
                 "--public-key", f"{key}.pub"]) == 0
    out = capsys.readouterr().out
    assert "OK: the chain is intact; the signed checkpoint at position 9 matches" in out

    Rows(url).edit(2)
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert "BROKEN at position 2 (altered)" in out
