"""The pipeline services' registry copy: loaded before consuming, current within
moments of a change made elsewhere, and rebuilt after a reconnect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from harness import connect_bus, master_box, wait_until
from nats_proxy import NatsProxy

from contracts import streams
from libs.registry.cache import CachedRegistry
from libs.registry.models import Tenant
from libs.registry.store import Registry
from libs.runtime.bus import Bus, connect
from libs.runtime.embedded_nats import EmbeddedNats
from tests.factories import make_account, make_strategy


@pytest.fixture
async def writer(bus: Bus) -> Registry:
    """Another process's view: writes straight to the bucket."""
    return Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())


@pytest.fixture
async def cached_bus(nats_server: EmbeddedNats) -> AsyncIterator[Bus]:
    """The connection of the service that holds the cached copy."""
    connection = await connect_bus(nats_server.url)
    yield connection
    await connection.close()


@pytest.fixture
async def cached(cached_bus: Bus) -> CachedRegistry:
    return CachedRegistry(await cached_bus.kv(streams.BUCKET_REGISTRY), master_box())


async def test_changes_made_elsewhere_are_seen_and_reads_need_no_kv(
        writer: Registry, cached: CachedRegistry, cached_bus: Bus) -> None:
    await writer.put(Tenant(id="acme", name="Acme"))
    await writer.put(make_account())
    await cached.load()
    stop = asyncio.Event()
    follower = asyncio.create_task(cached.run(stop))
    try:
        assert (await cached.tenant("acme")) == Tenant(id="acme", name="Acme")
        assert [a.id for a in await cached.accounts()] == ["acc-1"]

        strategy = make_strategy()
        await writer.put(strategy)
        assert await wait_until(lambda: cached.strategy(strategy.id)) == strategy
        assert (await cached.strategy(strategy.id)).secret == strategy.secret  # type: ignore[union-attr]

        disabled = strategy.model_copy(update={"enabled": False})
        await writer.put(disabled)

        async def seen_disabled() -> bool:
            found = await cached.strategy(strategy.id)
            return found is not None and not found.enabled

        await wait_until(seen_disabled, message="the cache to see the disable")
        await writer.kv.delete("account.acc-1")
        await wait_until(lambda: _gone(cached), message="the cache to drop the account")
        # Served from memory: with the bucket's connection closed, reads still answer.
        await cached_bus.close()
        assert (await cached.tenant("acme")) is not None
    finally:
        stop.set()
        await follower


async def _gone(cached: CachedRegistry) -> bool:
    return await cached.account("acc-1") is None and await cached.accounts() == []


async def test_a_reconnect_reloads_every_record(writer: Registry,
                                                nats_server: EmbeddedNats) -> None:
    # The cache's connection goes through a proxy the test can cut and hold down.
    proxy = NatsProxy(nats_server.port)
    await proxy.start()
    behind = await connect(proxy.url, name="cache-behind-a-proxy")
    cached = CachedRegistry(await behind.kv(streams.BUCKET_REGISTRY), master_box())
    behind.on_reconnected.append(cached.on_reconnected)
    await cached.load()
    stop = asyncio.Event()
    follower = asyncio.create_task(cached.run(stop))
    try:
        await writer.put(Tenant(id="beta", name="Beta"))
        await wait_until(lambda: cached.tenant("beta"), message="the new tenant")
        # The connection is cut and stays down while the registry changes elsewhere.
        await proxy.stop()
        await writer.kv.delete("tenant.beta")
        await writer.put(Tenant(id="gamma", name="Gamma"))
        assert [t.id for t in await cached.tenants()] == ["beta"]  # it cannot know yet
        await proxy.start()

        async def reloaded() -> bool:
            return [t.id for t in await cached.tenants()] == ["gamma"]

        await wait_until(reloaded, message="a full reload after the reconnect")
    finally:
        stop.set()
        await follower
        await behind.close()
        await proxy.stop()


async def test_ingress_strategy_cache_rewatches_after_a_reconnect(writer: Registry) -> None:
    from libs.registry.cache import StrategyCache

    strategy = make_strategy()
    await writer.put(strategy)
    cache = StrategyCache(writer)
    await cache.start()
    try:
        cache.by_id = {}  # a watch that went deaf and a cache that forgot
        cache.on_reconnected()
        await wait_until(lambda: cache.with_slug(strategy.slug), message="the re-watch")
        assert cache.by_token  # indexes rebuilt from what the watch delivered
    finally:
        await cache.stop()
