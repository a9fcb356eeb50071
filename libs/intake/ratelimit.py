"""Rate limits per tenant, account and strategy, shared by every ingress process.

Fixed windows (minute, hour, day) counted in a NATS KV bucket with compare-and-set,
so N ingress instances enforce one limit together. A request over any limit gets
429 with ``Retry-After`` = seconds until that window ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from contracts.subjects import token
from libs.registry.models import RateLimits, Strategy
from libs.registry.store import Registry

WINDOWS = (("minute", 60), ("hour", 3600), ("day", 86400))


@dataclass(frozen=True)
class Exceeded:
    """Which limit a request broke and when its window ends."""

    scope: str
    window: str
    limit: int
    retry_after_s: int


def limits_of(limits: RateLimits | None) -> list[tuple[str, int, int]]:
    """``(window name, seconds, limit)`` for each configured window (0 = no limit)."""
    if limits is None:
        return []
    configured = {"minute": limits.per_minute, "hour": limits.per_hour,
                  "day": limits.per_day}
    out: list[tuple[str, int, int]] = []
    for name, seconds in WINDOWS:
        limit = configured[name]
        if limit:
            out.append((name, seconds, limit))
    return out


class RateLimiter:
    """Counts requests per scope and window in a KV bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def count(self, key: str) -> int:
        """Add one to the counter ``key`` (compare-and-set); returns the new count."""
        while True:
            try:
                entry = await self.kv.get(key)
            except KeyNotFoundError:
                try:
                    await self.kv.create(key, b"1")
                    return 1
                except KeyWrongLastSequenceError:
                    continue  # another instance created it first
            count = int(entry.value or b"0") + 1
            try:
                await self.kv.update(key, str(count).encode(), last=entry.revision)
                return count
            except KeyWrongLastSequenceError:
                continue

    async def hit(self, scopes: list[tuple[str, RateLimits | None]],
                  now_s: float) -> Exceeded | None:
        """Count one request against every scope's windows; the first limit broken."""
        for scope, limits in scopes:
            for window, seconds, limit in limits_of(limits):
                start = int(now_s // seconds) * seconds
                count = await self.count(f"{token(scope)}.{window}.{start}")
                if count > limit:
                    return Exceeded(scope, window, limit, max(1, start + seconds - int(now_s)))
        return None


class ScopeLimits:
    """The limits of a strategy's tenant and account, cached briefly (they rarely
    change, and every request needs them)."""

    def __init__(self, registry: Registry, ttl_s: float = 5.0) -> None:
        self.registry = registry
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, RateLimits | None]] = {}

    async def _limits(self, kind: str, record_id: str) -> RateLimits | None:
        key = f"{kind}:{record_id}"
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        record = await (self.registry.tenant(record_id) if kind == "tenant"
                        else self.registry.account(record_id))
        limits = record.rate_limits if record is not None else None
        self._cache[key] = (now, limits)
        return limits

    async def scopes(self, strategy: Strategy) -> list[tuple[str, RateLimits | None]]:
        """``(scope key, limits)`` for the tenant, the account and the strategy."""
        return [
            (f"tenant_{strategy.tenant_id}", await self._limits("tenant", strategy.tenant_id)),
            (f"account_{strategy.account_id}",
             await self._limits("account", strategy.account_id)),
            (f"strategy_{strategy.id}", strategy.rate_limits),
        ]
