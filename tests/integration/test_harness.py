"""The harness hides nothing: an unreadable event and a traceback anywhere in a log
both fail the test that produced them."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import make_failed
from harness import EventTap, System

from contracts import streams
from libs.runtime.bus import Bus
from libs.runtime.embedded_nats import EmbeddedNats


async def test_an_undecodable_event_fails_every_look_at_the_events(bus: Bus) -> None:
    tap = EventTap(bus)
    await tap.start()
    try:
        await bus.js.publish("webhook.failed.t.a.s", b'{"type": "webhook.failed"}',
                             stream=streams.STREAM)
        await bus.publish_event(make_failed(event_id="readable"), "m-readable")
        # A negative check cannot pass vacuously: the tap refuses to answer.
        with pytest.raises(AssertionError, match="not decodable events"):
            await tap.wait_for(lambda evs: any(e.event_id == "readable" for e in evs))
        with pytest.raises(AssertionError, match="not decodable events"):
            tap.of_type("webhook.failed")
        with pytest.raises(AssertionError, match="not decodable events"):
            tap.check()
    finally:
        await tap.stop()


async def test_expected_garbage_and_dead_letters_are_kept_apart(bus: Bus) -> None:
    tap = EventTap(bus)
    await tap.start()
    try:
        tap.expect_undecodable(b"\x00garbage")
        await bus.js.publish("registry.garbage.t", b"\x00garbage", stream=streams.STREAM)
        await bus.js.publish("deadletter.probe", b"\x00parked", stream=streams.STREAM)
        await bus.publish_event(make_failed(event_id="readable"), "m-readable")
        await tap.wait_for(lambda evs: any(e.event_id == "readable" for e in evs))
        assert [e.event_id for e in tap.events] == ["readable"]
        assert tap.dead_letters == [("deadletter.probe", b"\x00parked")]
        assert [subject for subject, _, _ in tap.undecodable] == ["registry.garbage.t"]
    finally:
        await tap.stop()


def test_a_traceback_early_in_a_long_log_is_found(tmp_path: Path,
                                                  nats_server: EmbeddedNats) -> None:
    system = System(nats=nats_server, data_dir=tmp_path, database_url="", http_port=0)
    lines = [f"2026-01-01 risk INFO services.risk: signal {n} sized" for n in range(500)]
    (tmp_path / "risk.log").write_text("\n".join([
        "2026-01-01 risk ERROR services.risk: handler failed",
        "Traceback (most recent call last):", '  File "x.py", line 1', "KeyError: 'x'",
        *lines]) + "\n")
    (tmp_path / "executor.log").write_text("\n".join(lines) + "\n")

    (found,) = system.tracebacks()
    assert found.startswith("risk.log: 2026-01-01 risk ERROR services.risk: handler failed")
    assert "KeyError: 'x'" in found
    with pytest.raises(AssertionError, match="1 traceback"):
        system.assert_no_tracebacks()
    # Only what was logged after the offsets counts (one test of a shared system).
    assert system.tracebacks(since=system.log_offsets()) == []


def test_a_traceback_the_test_expects_is_named_and_no_other_is_let_through(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    system = System(nats=nats_server, data_dir=tmp_path, database_url="", http_port=0)
    (tmp_path / "auditor.log").write_text("\n".join([
        "2026-01-01 auditor ERROR services.auditor: auditor could not store 3 event(s)",
        "Traceback (most recent call last):", "ConnectionError: gone",
        "2026-01-01 auditor ERROR services.auditor: projector failed",
        "Traceback (most recent call last):", "KeyError: 'x'"]) + "\n")

    system.expect_traceback("auditor could not store", "ConnectionError")
    system.expect_traceback("projector failed", "ValueError")  # not the error it raised

    (found,) = system.tracebacks()
    assert "projector failed" in found and "KeyError" in found


def test_a_chained_traceback_belongs_to_the_record_that_logged_it(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    # "raise X from e" prints two tracebacks, the second after a blank line: both are
    # the expected record's, and a later unexpected one is still found.
    system = System(nats=nats_server, data_dir=tmp_path, database_url="", http_port=0)
    (tmp_path / "auditor.log").write_text("\n".join([
        "2026-01-01 10:00:00,001 auditor ERROR services.auditor: auditor could not store",
        "Traceback (most recent call last):", "psycopg_pool.PoolTimeout: no connection",
        "", "The above exception was the direct cause of the following exception:", "",
        "Traceback (most recent call last):", "OperationalError: no connection",
        "2026-01-01 10:00:02,001 auditor ERROR services.auditor: service stopped",
        "", "Traceback (most recent call last):", "OperationalError: no connection"])
        + "\n")
    system.expect_traceback("auditor could not store", "OperationalError")

    (found,) = system.tracebacks()
    assert found.startswith("auditor.log: 2026-01-01 10:00:02,001 auditor ERROR "
                            "services.auditor: service stopped")
