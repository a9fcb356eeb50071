"""Listing KV keys by pattern, including when nats-py's watcher signals the end of the
initial values before delivering them (seen under load: an API key listing was empty)."""

from __future__ import annotations

import pytest

from contracts import streams
from libs.registry import kv_keys
from libs.runtime.bus import Bus


async def _bucket_with_keys(bus: Bus) -> None:
    kv = await bus.kv(streams.BUCKET_REGISTRY)
    for key in ("apikey.a", "apikey.b", "apikey.gone", "apikey.purged", "tenant.t1"):
        await kv.put(key, b"{}")
    await kv.delete("apikey.gone")
    await kv.purge("apikey.purged")


async def test_live_keys_of_a_pattern(bus: Bus) -> None:
    await _bucket_with_keys(bus)
    kv = await bus.kv(streams.BUCKET_REGISTRY)
    assert sorted(await kv_keys.matching_keys(kv, "apikey.*")) == ["apikey.a", "apikey.b"]
    assert await kv_keys.matching_keys(kv, "strategy.*") == []


async def test_an_early_end_of_the_watch_is_checked_against_the_stream(
        bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    await _bucket_with_keys(bus)
    kv = await bus.kv(streams.BUCKET_REGISTRY)

    async def ended_before_the_values(kv: object, pattern: str) -> list[str]:
        return []

    monkeypatch.setattr(kv_keys, "watched_keys", ended_before_the_values)
    assert await kv_keys.matching_keys(kv, "apikey.*") == ["apikey.a", "apikey.b"]
    assert await kv_keys.matching_keys(kv, "tenant.*") == ["tenant.t1"]
    assert await kv_keys.matching_keys(kv, "strategy.*") == []
