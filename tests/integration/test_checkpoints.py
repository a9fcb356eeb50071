"""The auditor's periodic checkpoints on SQLite and PostgreSQL: signed every N rows or T
seconds (only when something was stored), never over a broken chain, and the newest
is what ``tradehooks verify`` checks by default — which is how a chain recomputed by
someone with write access is caught."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import ManualClock
from harness import BACKENDS
from integration.test_chain import Rows, _delete_link, signals

from cli.main import main
from projections import checkpoint as cp
from projections.chain import upgrade_chain
from projections.persistence import parse_store_url
from projections.store import EventStore
from services.auditor.checkpoints import Checkpointer

pytestmark = pytest.mark.parametrize("store_url", BACKENDS, indirect=True)


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def files(directory: Path) -> list[int]:
    return sorted(cp.decode(p.read_bytes()).position for p in directory.glob("*.json"))


def signer(store: EventStore, url: str, directory: Path, ticks: Ticks,
           key: cp.Ed25519PrivateKey | None = None) -> Checkpointer:
    return Checkpointer(store, key or cp.Ed25519PrivateKey.generate(), directory,
                        parse_store_url(url).describe(),
                        ManualClock(datetime(2026, 12, 2, tzinfo=UTC)),
                        every_events=6, interval_s=60.0, monotonic=ticks)


def test_a_checkpoint_every_n_rows_or_t_seconds(store: EventStore, url: str,
                                                tmp_path: Path) -> None:
    ticks = Ticks()
    store.append(signals("a", 2))  # rows 1..6
    checkpoints = signer(store, url, tmp_path / "cp", ticks)

    assert checkpoints.catch_up() == 0  # the first one is the timer's (it walks it all)
    assert checkpoints.first() and files(tmp_path / "cp") == [6]
    store.append(signals("b", 1))  # 7..9: three rows, under the six
    assert checkpoints.catch_up() == 0
    store.append(signals("c", 1))  # 10..12: six since the last
    assert checkpoints.catch_up() == 1
    assert files(tmp_path / "cp") == [6, 12]

    store.append(signals("d", 1))  # 13..15
    ticks.now = 59.0
    assert not checkpoints.on_timer()  # not yet an interval
    ticks.now = 61.0
    assert checkpoints.on_timer()
    ticks.now = 200.0
    assert not checkpoints.on_timer()  # nothing stored since: nothing to sign
    assert files(tmp_path / "cp") == [6, 12, 15]

    last = cp.decode(cp.checkpoint_path(tmp_path / "cp", 15).read_bytes())
    assert (last.events, cp.check_signature(last, checkpoints.last.public_key)) == (15, "")  # type: ignore[union-attr]
    # Another auditor (a restart) goes on from the newest file of its key.
    again = signer(store, url, tmp_path / "cp", ticks, checkpoints.key)
    assert again.last == last


def test_a_broken_chain_is_never_signed(store: EventStore, url: str, tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    ticks = Ticks()
    store.append(signals("a", 2))
    checkpoints = signer(store, url, tmp_path / "cp", ticks)
    assert checkpoints.first()
    store.append(signals("b", 2))  # 7..12
    Rows(url).edit(9)

    with caplog.at_level(logging.ERROR):
        assert checkpoints.catch_up() == 0
    assert files(tmp_path / "cp") == [6]
    assert "chain is broken at position 9 (altered)" in caplog.text


def test_verify_checks_the_newest_checkpoint_and_so_finds_a_recomputed_chain(
        store: EventStore, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "checkpoint.key"
    cp.new_key(key)
    monkeypatch.setenv("TRADEHOOKS_DATABASE_URL", url)
    monkeypatch.setenv("TRADEHOOKS_CHECKPOINT_KEY", str(key))
    monkeypatch.setenv("TRADEHOOKS_CHECKPOINT_DIR", str(tmp_path / "cp"))
    store.append(signals("a", 3))  # 1..9
    assert signer(store, url, tmp_path / "cp", Ticks(), cp.load_key(key)).first()
    capsys.readouterr()

    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    assert f"checkpoint: the newest in {tmp_path / 'cp'}" in out
    assert "signature holds for the given key" in out  # the key's .pub, found beside it
    assert "the signed checkpoint at position 9 matches" in out

    Rows(url).edit(5)  # a forger edits a row and recomputes every link
    _delete_link(url, None)
    assert upgrade_chain(store.recorder) == 9
    assert main(["verify", "--no-checkpoint"]) == 0  # the chain alone is fooled
    capsys.readouterr()
    assert main(["verify"]) == 1
    assert "BROKEN at position 9 (checkpoint)" in capsys.readouterr().out
