"""Counting authentication failures and alerting operators past a threshold.

Failures are counted per strategy (the one the request named, or ``unknown``) and
minute in the shared KV counters, so the count spans every ingress instance, and
so unauthenticated traffic can add at most one counter per strategy and minute.
The alert is one event per strategy and minute (its message id dedupes it).
"""

from __future__ import annotations

import logging

from contracts import streams
from contracts.events import AuthFailuresAlert
from services.ingress.ratelimit import RateLimiter
from services.registry.store import StrategyCache
from services.runtime import metrics
from services.runtime.bus import Bus
from services.runtime.clock import Clock
from services.runtime.ids import derived_event_id

log = logging.getLogger(__name__)
WINDOW_S = 60
UNKNOWN = "unknown"


def strategy_hint(cache: StrategyCache, slug: str | None, name: object) -> tuple[str, str]:
    """``(strategy hint, tenant)`` for a failed request: only names of known
    strategies count, anything else is ``unknown`` (attackers choose the names)."""
    found = cache.with_slug(slug) if slug else (
        cache.with_name(name) if isinstance(name, str) and name else [])
    if len(found) == 1:
        return found[0].slug, found[0].tenant_id
    return UNKNOWN, "_"


class AuthFailureAlerts:
    """Counts failures and raises ``security.auth_failures`` past the threshold."""

    def __init__(self, bus: Bus, counters: RateLimiter, clock: Clock, threshold: int) -> None:
        self.bus = bus
        self.counters = counters
        self.clock = clock
        self.threshold = threshold

    async def record(self, hint: str, tenant_id: str, source_ip: str) -> bool:
        """Count one failure; True when it raised the alert. Never raises: counting
        must not turn a 401 into an error."""
        metrics.AUTH_FAILURES.labels(hint).inc()
        now = self.clock.now()
        start = int(now.timestamp()) // WINDOW_S * WINDOW_S
        try:
            count = await self.counters.count(f"authfail_{hint}.minute.{start}")
            if count != self.threshold + 1:
                return False
            correlation = f"security:{hint}:{start}"
            alert = AuthFailuresAlert(
                event_id=derived_event_id(correlation, "alert"), signal_id=correlation,
                tenant_id=tenant_id, occurred_at=now, strategy_hint=hint,
                source_ip=source_ip, failures=count, window_s=WINDOW_S,
                threshold=self.threshold)
            await self.bus.publish_event(alert, streams.message_id(correlation, "alert"))
        except Exception:
            log.exception("could not count an authentication failure")
            return False
        metrics.AUTH_ALERTS.labels(hint).inc()
        log.warning("%d failed authentications for strategy %s within %d s (last from %s)",
                    count, hint, WINDOW_S, source_ip)
        return True
