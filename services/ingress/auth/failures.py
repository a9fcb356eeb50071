"""Counting authentication failures and alerting operators past a threshold.

A failure is counted against each strategy the request was aimed at — the one its
URL names (``/webhook/<tenant>/<slug>``, or every strategy of a legacy slug), or
its JWT's ``sub``, or its signed body's ``strategy`` — under that strategy's
tenant. A request that names no known strategy (attackers choose the names) is
counted once as ``unknown``. Counts are kept per strategy id and minute in the
shared KV counters, so they span every ingress instance, and unauthenticated
traffic can add at most one counter per strategy and minute. The alert is one event
per strategy and minute (its message id dedupes it).
"""

from __future__ import annotations

import logging

from contracts import streams
from contracts.events import AuthFailuresAlert
from libs.intake.ratelimit import RateLimiter
from libs.registry.cache import StrategyCache
from libs.registry.models import Strategy
from libs.runtime import metrics
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock
from libs.runtime.ids import derived_event_id
from services.ingress.auth.bearer import subject_strategies

log = logging.getLogger(__name__)
WINDOW_S = 60
UNKNOWN = "unknown"
# Tenants are made by global admins, so few strategies share a name or slug; the
# bound keeps one request's counting cost small whatever the registry holds.
MAX_COUNTED = 16


def aimed_at(cache: StrategyCache, at_url: list[Strategy] | None, name: object,
             jwt_subject: str | None) -> list[Strategy]:
    """The known strategies a failed request was aimed at (empty: none it named)."""
    if at_url is not None:
        found = at_url
    elif jwt_subject is not None:
        found = subject_strategies(cache, jwt_subject)
    elif isinstance(name, str) and name:
        found = cache.with_name(name)
    else:
        found = []
    return sorted(found, key=lambda s: s.id)[:MAX_COUNTED]


class AuthFailureAlerts:
    """Counts failures and raises ``security.auth_failures`` past the threshold."""

    def __init__(self, bus: Bus, counters: RateLimiter, clock: Clock, threshold: int) -> None:
        self.bus = bus
        self.counters = counters
        self.clock = clock
        self.threshold = threshold

    async def record(self, aimed: list[Strategy], source_ip: str) -> bool:
        """Count one failure against each strategy aimed at (or ``unknown``); True
        when it raised an alert. Never raises: counting must not turn a 401 into an
        error."""
        raised = False
        for strategy in aimed:
            raised |= await self._count(strategy.tenant_id, strategy.slug, strategy.id,
                                        source_ip)
        if not aimed:
            raised = await self._count(UNKNOWN, UNKNOWN, "", source_ip)
        return raised

    async def _count(self, tenant_id: str, hint: str, strategy_id: str,
                     source_ip: str) -> bool:
        metrics.AUTH_FAILURES.labels(tenant_id, hint).inc()
        now = self.clock.now()
        start = int(now.timestamp()) // WINDOW_S * WINDOW_S
        # Per strategy id (slugs repeat across tenants); ``none`` for unknown ones.
        scope = f"id.{strategy_id}" if strategy_id else "none"
        try:
            count = await self.counters.count(f"authfail.{scope}.minute.{start}")
            if count != self.threshold + 1:
                return False
            correlation = f"security:{strategy_id or UNKNOWN}:{start}"
            alert = AuthFailuresAlert(
                event_id=derived_event_id(correlation, "alert"), signal_id=correlation,
                tenant_id=tenant_id if strategy_id else "_", occurred_at=now,
                strategy_hint=hint, strategy_id=strategy_id, source_ip=source_ip,
                failures=count, window_s=WINDOW_S, threshold=self.threshold)
            await self.bus.publish_event(alert, streams.message_id(correlation, "alert"))
        except Exception:
            log.exception("could not count an authentication failure")
            return False
        metrics.AUTH_ALERTS.labels(tenant_id, hint).inc()
        log.warning("%d failed authentications for strategy %s of tenant %s within %d s "
                    "(last from %s)", count, hint, tenant_id, WINDOW_S, source_ip)
        return True
