"""The daily summary: what each tenant's day held, told once a day at a set UTC hour.

Counts are kept per tenant and UTC day from the events the notifier sees (in memory:
a notifier restarted during the day counts from its start on, the summary says so
only by its numbers).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from libs.notify.messages import Message

_LABELS = (("fills", "fill(s)"), ("failures", "failed signal(s)"),
           ("breaker", "breaker trip(s)"), ("auth_failures", "authentication-failure alert(s)"))


class DailyTally:
    """Events per tenant, UTC day and topic."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, date], Counter[str]] = {}

    def count(self, tenant_id: str, topic: str, day: date) -> None:
        """One more event of ``topic`` on ``day``."""
        self._counts.setdefault((tenant_id, day), Counter())[topic] += 1

    def take(self, tenant_id: str, day: date) -> Counter[str]:
        """The day's counts of a tenant, forgotten once taken (with every older day)."""
        for key in [k for k in self._counts if k[0] == tenant_id and k[1] < day]:
            del self._counts[key]
        return self._counts.pop((tenant_id, day), Counter())


def day_to_summarise(now: datetime, hour: int, last_done: date | None) -> date | None:
    """The UTC day whose summary is due at ``now`` (once ``hour`` has come and that
    day was not summarised yet), or None."""
    today = now.date()
    if now.hour < hour or (last_done is not None and last_done >= today):
        return None
    return today


def summary_message(tenant_id: str, day: date, counts: Counter[str]) -> Message:
    """The summary of one tenant's day."""
    lines = [f"• {counts.get(topic, 0)} {label}" for topic, label in _LABELS]
    return Message(f"tradehooks: daily summary of {tenant_id} for {day.isoformat()}",
                   "\n".join(lines))
