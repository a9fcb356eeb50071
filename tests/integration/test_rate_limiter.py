"""The shared rate limiter on real NATS KV: exact under concurrency, per window."""

from __future__ import annotations

import asyncio

from contracts import streams
from libs.intake.ratelimit import RateLimiter, limits_of
from libs.registry.models import RateLimits
from libs.runtime.bus import Bus

NOW = 1_800_000_020.0  # a fixed moment, 20 s into its minute


def test_only_configured_windows_count() -> None:
    assert limits_of(None) == []
    assert limits_of(RateLimits(per_minute=5, per_day=100)) == [
        ("minute", 60, 5), ("day", 86400, 100)]


async def test_concurrent_requests_get_exactly_the_limit(bus: Bus) -> None:
    limiter = RateLimiter(await bus.kv(streams.BUCKET_RATE))
    scopes = [("tenant_t1", RateLimits(per_minute=10))]
    results = await asyncio.gather(*(limiter.hit(scopes, NOW) for _ in range(25)))
    allowed = [r for r in results if r is None]
    refused = [r for r in results if r is not None]
    assert len(allowed) == 10
    assert {(r.scope, r.window, r.limit) for r in refused} == {("tenant_t1", "minute", 10)}
    assert {r.retry_after_s for r in refused} == {40}


async def test_the_next_window_starts_afresh_and_scopes_are_separate(bus: Bus) -> None:
    limiter = RateLimiter(await bus.kv(streams.BUCKET_RATE))
    tight = [("account_a", RateLimits(per_minute=1))]
    assert await limiter.hit(tight, NOW) is None
    assert await limiter.hit(tight, NOW + 1) is not None
    assert await limiter.hit([("account_b", RateLimits(per_minute=1))], NOW) is None
    assert await limiter.hit(tight, NOW + 60) is None  # a new minute
