"""Which events people are told about, and the text they read.

A lifecycle event becomes a :class:`Notice` (its topic and one line of text) or
nothing; a batch of notices of one topic becomes one message (a title and a body).
No secret is ever in an event, so none can reach a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from contracts.events import (
    AuthFailuresAlert,
    BreakerTripped,
    Event,
    TradeExecuted,
    WebhookFailed,
)

# Lines shown in one collapsed message; the rest are counted.
MAX_LINES = 10
_TITLES = {"fills": ("Fill", "fills"), "failures": ("Failed signal", "failed signals"),
           "breaker": ("Breaker tripped", "breaker trips"),
           "auth_failures": ("Authentication failures", "authentication-failure alerts")}


@dataclass(frozen=True)
class Notice:
    """One event as people read it: its tenant, topic and one line."""

    tenant_id: str
    topic: str
    line: str
    event_id: str


@dataclass(frozen=True)
class Message:
    """What a channel sends: a title (the e-mail subject) and a body; ``ref`` is the
    stable id of the batch it tells (the same on a resend after a restart)."""

    title: str
    body: str
    ref: str = ""

    def text(self) -> str:
        """Title and body as one chat message."""
        return f"{self.title}\n{self.body}"


def _amount(value: Decimal) -> str:
    return format(value.normalize(), "f")


def notice_for(event: Event) -> Notice | None:
    """The notice ``event`` gives people, or None (dry runs and other events)."""
    line = _line(event)
    topic = _topic(event)
    if line is None or topic is None:
        return None
    return Notice(event.tenant_id, topic, line, event.event_id)


def _topic(event: Event) -> str | None:
    return {TradeExecuted: "fills", WebhookFailed: "failures", BreakerTripped: "breaker",
            AuthFailuresAlert: "auth_failures"}.get(type(event))


def _line(event: Event) -> str | None:
    if isinstance(event, TradeExecuted):
        fills = event.all_fills()
        if event.dry_run or not fills:
            return None
        parts = ", ".join(f"{fill.side} {_amount(fill.quantity)} {fill.symbol} @ "
                          f"{_amount(fill.average_price)}" for fill in fills)
        return f"{parts} (account {event.account_id}, strategy {event.strategy_id})"
    if isinstance(event, WebhookFailed):
        if event.dry_run:
            return None
        where = f"strategy {event.strategy_id}" if event.strategy_id else "unknown strategy"
        return f"{event.code} at {event.stage}: {event.reason} ({where}, signal " \
               f"{event.signal_id})"
    if isinstance(event, BreakerTripped):
        what = "stop-loss" if event.kind == "sl" else "take-profit"
        paused = ", account paused" if event.paused else ""
        return f"{what} breaker on account {event.account_id}: equity " \
               f"{_amount(event.equity)} vs threshold {_amount(event.threshold)}{paused}"
    if isinstance(event, AuthFailuresAlert):
        return f"{event.failures} failed authentications for {event.strategy_hint} from " \
               f"{event.source_ip} in {event.window_s} s"
    return None


def render(topic: str, lines: list[str], total: int) -> Message:
    """One message for ``total`` notices of ``topic`` (``lines``: the first of them)."""
    one, many = _TITLES.get(topic, (topic, topic))
    if total == 1 and lines:
        return Message(f"tradehooks: {one}", lines[0])
    shown = lines[:MAX_LINES]
    body = "\n".join(f"• {line}" for line in shown)
    if total > len(shown):
        body += f"\n… and {total - len(shown)} more"
    return Message(f"tradehooks: {total} {many}", body)


def fresh(occurred_at: datetime, now: datetime, max_age_s: float) -> bool:
    """Whether an event is recent enough to tell people about (a notifier starting on
    a long stream does not replay its history into chats)."""
    return (now - occurred_at).total_seconds() <= max_age_s
