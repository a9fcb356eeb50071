"""The same alert twice: JetStream keeps the first ``webhook.received`` of an alert
key and answers a repeat with the first one's sequence, on any connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from harness import connect_bus

from libs.intake.dedupe import dedupe_key, first_signal_id, received_msg_id
from libs.runtime.bus import Bus
from libs.runtime.embedded_nats import EmbeddedNats
from tests.factories import make_received

KEY = dedupe_key("strat-1", "alert-42", b"")


@pytest.fixture
async def other_bus(nats_server: EmbeddedNats) -> AsyncIterator[Bus]:
    """A second connection, as another ingress instance has."""
    connection = await connect_bus(nats_server.url)
    yield connection
    await connection.close()


async def claim(bus: Bus, key: str, signal_id: str) -> str:
    """What ingress does: publish with the alert's message id; the first id wins."""
    duplicate, seq = await bus.publish_first(make_received(signal_id=signal_id,
                                                           event_id=f"e-{signal_id}"),
                                             received_msg_id(key))
    return await first_signal_id(bus, seq) if duplicate else signal_id


async def test_a_repeat_gets_the_first_signal_id(bus: Bus, other_bus: Bus) -> None:
    assert await claim(bus, KEY, "sig-1") == "sig-1"
    assert await claim(bus, KEY, "sig-2") == "sig-1"
    assert await claim(other_bus, KEY, "sig-3") == "sig-1"
    info = await bus.js.stream_info("TRADEHOOKS")
    assert info.state.messages == 1


async def test_concurrent_repeats_on_two_connections_agree_on_one_id(
        bus: Bus, other_bus: Bus) -> None:
    fresh = [f"sig-{i}" for i in range(10)]
    claimed = await asyncio.gather(*[
        claim((bus, other_bus)[i % 2], KEY, sid) for i, sid in enumerate(fresh)])
    assert len(set(claimed)) == 1
    assert claimed[0] in fresh


async def test_different_keys_are_independent(bus: Bus) -> None:
    other = dedupe_key("strat-1", "alert-43", b"")
    by_body = dedupe_key("strat-1", "", b'{"action":"buy"}')
    other_strategy = dedupe_key("strat-2", "alert-42", b"")
    assert len({KEY, other, by_body, other_strategy}) == 4
    for n, key in enumerate([KEY, other, by_body, other_strategy]):
        assert await claim(bus, key, f"sig-{n}") == f"sig-{n}"
    for n, key in enumerate([KEY, other, by_body, other_strategy]):
        assert await claim(bus, key, f"late-{n}") == f"sig-{n}"
