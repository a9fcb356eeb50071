"""The stream and buckets every service sets up: KV buckets answer reads with direct
gets, including buckets made by an older version without them."""

from __future__ import annotations

from nats.js.api import KeyValueConfig, StorageType

from contracts import streams
from libs.runtime.bus import Bus, ensure_topology


async def direct_gets(bus: Bus, bucket: str) -> bool:
    """Does the bucket's stream answer direct gets (as the server says)?"""
    return bool((await bus.js.stream_info(f"KV_{bucket}")).config.allow_direct)


async def test_every_bucket_serves_direct_gets(bus: Bus) -> None:
    for bucket in (streams.BUCKET_REGISTRY, streams.BUCKET_PAPER, streams.BUCKET_RISK,
                   streams.BUCKET_RATE, streams.BUCKET_ACCEPTED):
        kv = await bus.kv(bucket)
        assert await direct_gets(bus, bucket), bucket
        await kv.put("probe", b"1")
        assert (await kv.get("probe")).value == b"1"


async def test_an_old_bucket_without_direct_gets_is_upgraded_in_place(bus: Bus) -> None:
    await bus.js.delete_key_value(streams.BUCKET_RISK)
    await bus.js.create_key_value(KeyValueConfig(bucket=streams.BUCKET_RISK, history=1,
                                                 storage=StorageType.FILE))
    old = await bus.kv(streams.BUCKET_RISK)
    assert not await direct_gets(bus, streams.BUCKET_RISK)
    await old.put("ledger.acc-1", b"kept")

    await ensure_topology(bus)

    upgraded = await bus.kv(streams.BUCKET_RISK)
    assert await direct_gets(bus, streams.BUCKET_RISK)
    assert (await upgraded.get("ledger.acc-1")).value == b"kept"
