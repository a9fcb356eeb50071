"""The delivery state machine, as pure decisions: what to do before an attempt, what
an attempt's outcome makes of a delivery, and what a delivery's end makes of its
endpoint. Values in, values out; the worker does the I/O.

A delivery is ``pending`` until an attempt is answered 2xx (``delivered``) or it is
given up (``parked``): the endpoint answered 410 Gone, or the next retry would fall
after the retry period (``TRADEHOOKS_CALLBACK_RETRY_FOR_S`` from the request), or the
endpoint is disabled or gone when an attempt is due. Retries wait
``min(base * 2^(n-1), cap)``, shortened by up to 20 % at random (jitter), so
receivers that failed together are not hit together again.

An endpoint's ``streak`` counts its deliveries parked in a row (not for being
disabled: that is a consequence, not news); any delivered one resets it. The first
parked delivery marks the endpoint failing; ``disable_after`` in a row (or one 410)
disable it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from libs.callbacks.deliveries import DeliveryRecord

JITTER = 0.2
# A redelivery the server makes a little early is not early (clocks, timers).
EARLY_SLACK_S = 0.05


@dataclass(frozen=True)
class RetryPolicy:
    """The retry schedule and when an endpoint is disabled (from the settings)."""

    base_s: float = 5.0
    max_delay_s: float = 3600.0
    retry_for_s: float = 86_400.0
    disable_after: int = 10

    def delay(self, attempt: int, rand: float) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based);
        ``rand`` in [0, 1) picks the jitter."""
        full = min(self.max_delay_s, self.base_s * 2.0 ** min(attempt - 1, 62))
        return full * (1.0 - JITTER * rand)


@dataclass(frozen=True)
class Outcome:
    """How one attempt went: the status answered (0: none), or why there was none."""

    status_code: int = 0
    error: str = ""
    refused: bool = False  # the address was not allowed: nothing was sent

    @property
    def delivered(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """410: the receiver says the endpoint is gone for good."""
        return self.status_code == 410


Before = Literal["attempt", "done", "wait", "park"]


@dataclass(frozen=True)
class BeforeAttempt:
    """What to do with a delivery whose message arrived."""

    action: Before
    wait_s: float = 0.0  # "wait": nak with this delay
    reason: str = ""  # "park": why


def before_attempt(record: DeliveryRecord, endpoint_enabled: bool | None,
                   now: datetime) -> BeforeAttempt:
    """``done`` for an ended delivery, ``park`` when the endpoint is disabled
    (``False``) or removed (``None``), ``wait`` when it arrived before its time,
    else ``attempt``."""
    if record.status != "pending":
        return BeforeAttempt("done")
    if endpoint_enabled is None:
        return BeforeAttempt("park", reason="the endpoint was removed")
    if not endpoint_enabled:
        return BeforeAttempt("park", reason="the endpoint is disabled")
    if record.next_attempt_at is not None:
        early = (record.next_attempt_at - now).total_seconds()
        if early > EARLY_SLACK_S:
            return BeforeAttempt("wait", wait_s=early)
    return BeforeAttempt("attempt")


def after_attempt(record: DeliveryRecord, outcome: Outcome, now: datetime,
                  policy: RetryPolicy, rand: float) -> DeliveryRecord:
    """The delivery after one more attempt with ``outcome``."""
    attempts = record.attempts + 1
    common = {"attempts": attempts, "last_attempt_at": now,
              "last_status_code": outcome.status_code, "last_error": outcome.error}
    if outcome.delivered:
        return msgspec.structs.replace(record, status="delivered", next_attempt_at=None,
                                       ended_at=now, **common)
    if outcome.gone:
        return parked(msgspec.structs.replace(record, **common), now)
    next_at = now + timedelta(seconds=policy.delay(attempts, rand))
    if (next_at - record.requested_at).total_seconds() > policy.retry_for_s:
        return parked(msgspec.structs.replace(record, **common), now)
    return msgspec.structs.replace(record, next_attempt_at=next_at, **common)


def parked(record: DeliveryRecord, now: datetime) -> DeliveryRecord:
    """The delivery given up now."""
    return msgspec.structs.replace(record, status="parked", next_attempt_at=None,
                                   ended_at=now)


def park_reason(record: DeliveryRecord, policy: RetryPolicy) -> str:
    """Why an attempt's outcome parked ``record`` (for the event and the log)."""
    if record.last_status_code == 410:
        return "the endpoint answered 410 Gone"
    return (f"no success in {record.attempts} attempt(s) within "
            f"{policy.retry_for_s:g} s")


@dataclass(frozen=True)
class Health:
    """What the dispatcher knows of an endpoint: parked deliveries in a row, and the
    two marks it sets on the endpoint's record."""

    streak: int = 0
    failing: bool = False
    enabled: bool = True


HealthChange = Literal["failing", "recovered", "disabled"]


def health_after(health: Health, *, delivered: bool, gone: bool,
                 policy: RetryPolicy) -> tuple[Health, list[HealthChange]]:
    """The endpoint after one of its deliveries ended (delivered, or parked by its
    attempts), and the changes to announce."""
    if delivered:
        if health.failing:
            return Health(0, False, health.enabled), ["recovered"]
        return Health(0, False, health.enabled), []
    streak = health.streak + 1
    changes: list[HealthChange] = [] if health.failing else ["failing"]
    enabled = health.enabled
    if enabled and (gone or (policy.disable_after and streak >= policy.disable_after)):
        enabled = False
        changes.append("disabled")
    return Health(streak, True, enabled), changes
