"""The registry's lookups on a real KV bucket: indexes by slug, name and token, and
listings by key pattern (server-side wildcards, not substrings)."""

from __future__ import annotations

from harness import master_box

from contracts import streams
from libs.registry.api_keys import ApiKeys
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from tests.factories import make_strategy


async def test_strategies_are_found_by_slug_name_and_token(bus: Bus) -> None:
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    assert await registry.strategies() == []
    gold = make_strategy()
    # A slug that contains the other's as a substring must not match it.
    golden = make_strategy(id="strat-2", slug="gold-breakout-2", name="Gold Breakout 2",
                           secret="whsec_b3RoZXItc2VjcmV0LWZvci10ZXN0cy1vbmx5LTk4NzY=")
    await registry.put(gold)
    await registry.put(golden)

    assert await registry.strategies_for("gold-breakout", None, None) == [gold]
    assert await registry.strategies_for(None, None, "Gold Breakout 2") == [golden]
    assert await registry.strategies_for(None, golden.secret, None) == [golden]
    assert await registry.strategies_for("nope", "whsec_nope", "nope") == []
    assert sorted(s.id for s in await registry.strategies()) == ["strat-1", "strat-2"]
    assert await registry.tenants() == []


async def test_api_keys_are_listed_and_a_revoked_key_stops_verifying(bus: Bus) -> None:
    keys = ApiKeys(await bus.kv(streams.BUCKET_REGISTRY))
    assert await keys.all() == []
    record, plain = await keys.create("viewer", "acme")
    other, _ = await keys.create("admin")
    assert [k.id for k in await keys.all()] == sorted([record.id, other.id])
    assert await keys.verify(plain) == record
    assert await keys.revoke(record.id)
    assert await keys.verify(plain) is None
    assert not await keys.revoke(record.id)
    assert [k.id for k in await keys.all()] == [other.id]
