"""The two steps that take an accepted alert into the pipeline: the rate-limit check
and the durable, de-duplicated ``webhook.received`` publish."""

from __future__ import annotations

from typing import Any

from contracts.dialects import ParsedAlert
from contracts.events import WebhookReceived
from libs.http.problems import Problem
from libs.intake.dedupe import first_signal_id, received_msg_id
from libs.intake.ratelimit import RateLimiter
from libs.registry.models import RateLimits, Strategy
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock, new_id
from libs.runtime.ids import derived_event_id


async def check_rate(limiter: RateLimiter, scopes: list[tuple[str, RateLimits | None]],
                     clock: Clock) -> None:
    """429 with Retry-After when the tenant, account or strategy is over a limit."""
    exceeded = await limiter.hit(scopes, clock.now().timestamp())
    if exceeded is None:
        return
    problem = Problem(429, "rate_limited",
                      f"{exceeded.scope.split('_')[0]} limit of {exceeded.limit} per "
                      f"{exceeded.window} reached; retry in {exceeded.retry_after_s} s")
    problem.headers["Retry-After"] = str(exceeded.retry_after_s)
    raise problem


async def publish_received(
    bus: Bus, clock: Clock, strategy: Strategy, auth_mode: str, alert: ParsedAlert,
    payload: dict[str, Any], content_type: str, source_ip: str, key: str,
    dry_run: bool = False,
) -> tuple[str, bool]:
    """Publish ``webhook.received`` durably, de-duplicated by the alert's ``key``; it
    carries the payload as sent (credentials removed) and ``alert`` as parsed here,
    so nothing downstream parses it again.

    Returns the signal id (the first one's, for a repeat) and whether it was a repeat.
    """
    signal_id = new_id()
    event = WebhookReceived(
        event_id=derived_event_id(signal_id, "received"), signal_id=signal_id,
        tenant_id=strategy.tenant_id, occurred_at=clock.now(),
        strategy_id=strategy.id, account_id=strategy.account_id, dialect=alert.dialect,
        payload=payload, content_type=content_type or "text/plain",
        auth_mode=auth_mode, source_ip=source_ip, dry_run=dry_run, alert=alert,
    )
    duplicate, seq = await bus.publish_first(event, received_msg_id(key))
    if duplicate:
        return await first_signal_id(bus, seq), True
    return signal_id, False
