"""The daily summary: what each tenant's day held, told once a day at a set UTC hour.

Pure rules, no I/O. The counts of a day are a function of the events of that day
(:class:`DailyTally` counts what it is given, each event once by id); the notifier
gets them from the stream (:mod:`libs.notify.day_counts`), so a restart loses none.
A day's summary is due from its summary hour until midnight (UTC); whether a channel
was told already is recorded durably (:mod:`libs.notify.summary_marks`).
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime

from contracts.events import Event
from libs.notify.messages import Message, notice_for

TOPIC = "daily_summary"
_LABELS = (("fills", "fill(s)"), ("failures", "failed signal(s)"),
           ("breaker", "breaker trip(s)"), ("auth_failures", "authentication-failure alert(s)"))


class DailyTally:
    """Events per tenant, UTC day (of ``occurred_at``) and topic; an event id seen
    twice counts once."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, date], Counter[str]] = {}
        self._seen: set[str] = set()

    def count(self, event: Event) -> bool:
        """Count ``event`` if people are told about it and it was not counted yet;
        whether it was counted."""
        notice = notice_for(event)
        if notice is None or event.event_id in self._seen:
            return False
        self._seen.add(event.event_id)
        day = event.occurred_at.astimezone(UTC).date()
        self._counts.setdefault((event.tenant_id, day), Counter())[notice.topic] += 1
        return True

    def of_day(self, day: date) -> dict[str, Counter[str]]:
        """Every tenant's counts of ``day``."""
        return {tenant: Counter(counts) for (tenant, d), counts in self._counts.items()
                if d == day}


def day_to_summarise(now: datetime, hour: int) -> date | None:
    """The UTC day whose summary is due at ``now`` (today, once ``hour`` has come), or
    None. A day whose hour passed while no notifier ran is summarised late, the same
    day; after midnight it is skipped."""
    return now.date() if now.hour >= hour else None


def summary_batch_id(tenant_id: str, channel: str, day: date) -> str:
    """The stable id of one channel's summary of one day (its e-mail Message-ID)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"summary/{tenant_id}/{channel}/{day}").hex


def summary_message(tenant_id: str, day: date, counts: Counter[str]) -> Message:
    """The summary of one tenant's day."""
    lines = [f"• {counts.get(topic, 0)} {label}" for topic, label in _LABELS]
    return Message(f"tradehooks: daily summary of {tenant_id} for {day.isoformat()}",
                   "\n".join(lines))
