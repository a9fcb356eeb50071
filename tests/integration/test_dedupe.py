"""Claiming a signal id for an alert key on the real dedupe KV bucket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from harness import connect_bus
from nats.js.kv import KeyValue

from contracts.streams import BUCKET_DEDUPE
from services.ingress.dedupe import claim_signal_id, dedupe_key
from services.runtime.bus import Bus
from services.runtime.embedded_nats import EmbeddedNats

KEY = dedupe_key("strat-1", "alert-42", b"")


@pytest.fixture
async def kv(bus: Bus) -> KeyValue:
    return await bus.kv(BUCKET_DEDUPE)


@pytest.fixture
async def other_kv(nats_server: EmbeddedNats) -> AsyncIterator[KeyValue]:
    """The bucket through a second connection, as another ingress instance sees it."""
    connection = await connect_bus(nats_server.url)
    yield await connection.kv(BUCKET_DEDUPE)
    await connection.close()


async def test_first_claim_gets_the_fresh_id_and_later_claims_the_first(kv: KeyValue) -> None:
    assert await claim_signal_id(kv, KEY, "sig-1") == "sig-1"
    assert await claim_signal_id(kv, KEY, "sig-2") == "sig-1"
    assert await claim_signal_id(kv, KEY, "sig-3") == "sig-1"

    entry = await kv.get(KEY)
    assert entry.value == b"sig-1"


async def test_another_instance_sees_the_first_claim(kv: KeyValue, other_kv: KeyValue) -> None:
    assert await claim_signal_id(kv, KEY, "sig-1") == "sig-1"
    assert await claim_signal_id(other_kv, KEY, "sig-2") == "sig-1"


async def test_concurrent_claims_of_one_key_agree_on_one_id(
    kv: KeyValue, other_kv: KeyValue,
) -> None:
    fresh = [f"sig-{i}" for i in range(10)]

    claimed = await asyncio.gather(*[
        claim_signal_id((kv, other_kv)[i % 2], KEY, sid) for i, sid in enumerate(fresh)
    ])

    assert len(set(claimed)) == 1
    winner = claimed[0]
    assert winner in fresh
    assert (await kv.get(KEY)).value == winner.encode()
    assert await claim_signal_id(kv, KEY, "sig-late") == winner


async def test_different_keys_are_independent(kv: KeyValue) -> None:
    other = dedupe_key("strat-1", "alert-43", b"")
    by_body = dedupe_key("strat-1", "", b'{"action":"buy"}')
    other_strategy = dedupe_key("strat-2", "alert-42", b"")
    assert len({KEY, other, by_body, other_strategy}) == 4

    assert await claim_signal_id(kv, KEY, "sig-1") == "sig-1"
    assert await claim_signal_id(kv, other, "sig-2") == "sig-2"
    assert await claim_signal_id(kv, by_body, "sig-3") == "sig-3"
    assert await claim_signal_id(kv, other_strategy, "sig-4") == "sig-4"

    assert await claim_signal_id(kv, KEY, "sig-5") == "sig-1"
    assert await claim_signal_id(kv, other, "sig-6") == "sig-2"
    assert await claim_signal_id(kv, by_body, "sig-7") == "sig-3"
    assert await claim_signal_id(kv, other_strategy, "sig-8") == "sig-4"


async def test_a_deleted_claim_can_be_claimed_again(kv: KeyValue) -> None:
    """After the window (here: an explicit delete) the next alert starts a new signal."""
    assert await claim_signal_id(kv, KEY, "sig-1") == "sig-1"
    await kv.delete(KEY)

    assert await claim_signal_id(kv, KEY, "sig-2") == "sig-2"
    assert await claim_signal_id(kv, KEY, "sig-3") == "sig-2"
