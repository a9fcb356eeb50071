"""The lines of the two log files: one JSON line per event (``logs.jsonl``, for
machines) and one human sentence per position, equity and bot-state change
(``activity.log``). Pure: an event in, a line (or nothing) out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from contracts.events import (
    AccountResumed,
    AccountUpdated,
    AnyEvent,
    BreakerTripped,
    LegFilled,
    StrategyUpdated,
    TenantUpdated,
    TradeExecuted,
    WebhookFailed,
    event_to_builtins,
    event_type,
)
from contracts.orders import Fill
from contracts.subjects import subject_for


def jsonl_line(position: int, event: AnyEvent) -> str:
    """``{"position", "subject", "event"}`` on one line: the event as published."""
    return orjson.dumps({"position": position, "type": event_type(event),
                         "subject": subject_for(event),
                         "event": event_to_builtins(event)}).decode()


def _num(value: Decimal) -> str:
    """A decimal without trailing zeros (0.50000000 → 0.5)."""
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".") or "0"


def _fill_text(fill: Fill) -> str:
    text = (f"{fill.symbol} {fill.side} {_num(fill.quantity)} @ {_num(fill.average_price)}"
            f" → position {_num(fill.position_quantity)}")
    if fill.realised_pnl:
        sign = "+" if fill.realised_pnl > 0 else ""
        text += f", realised P&L {sign}{_num(fill.realised_pnl)}"
    if fill.cash_after is not None:
        text += f", cash {_num(fill.cash_after)}"
    return text


# Registry fields that switch a bot on or off (other settings are not its state).
_STATE_WORDS = {"active": ("enabled", "disabled"), "enabled": ("enabled", "disabled"),
                "paused": ("paused", "running again")}


def _state_change(changes: dict[str, Any]) -> str | None:
    """What a registry change did to the bot's state, in words; None if nothing."""
    words = [_STATE_WORDS[name][0 if bool(value) else 1]
             for name, value in changes.items() if name in _STATE_WORDS]
    return " and ".join(dict.fromkeys(words)) or None


def activity_line(position: int, event: AnyEvent) -> str | None:
    """The human line of a position, equity or bot-state change; None for events
    that change none (they are in ``logs.jsonl``)."""
    head = f"{event.occurred_at.isoformat()} #{position} {event.tenant_id}"
    match event:
        case TradeExecuted(dry_run=False):
            fills = event.all_fills()
            if not fills:
                return None
            where = f"{head}/{event.account_id} strategy {event.strategy_id}: "
            return where + "; ".join(_fill_text(fill) for fill in fills)
        case LegFilled():
            return (f"{head}/{event.account_id} {event.leg} leg filled: "
                    f"{_fill_text(event.fill)}")
        case BreakerTripped():
            action = "paused, liquidating" if event.paused else "tripped"
            return (f"{head}/{event.account_id} breaker {event.kind.upper()} {action}: "
                    f"equity {_num(event.equity)} against {_num(event.threshold)}"
                    + (f" ({event.reason})" if event.reason else ""))
        case AccountResumed():
            return f"{head}/{event.account_id} resumed by {event.by}"
        case TenantUpdated() | AccountUpdated() | StrategyUpdated():
            state = _state_change(event.changes)
            if state is None:
                return None
            what = {TenantUpdated: "tenant", AccountUpdated: "account",
                    StrategyUpdated: "strategy"}[type(event)]
            name = getattr(event, f"{what}_id")
            return f"{head} {what} {name} {state}" + (f" by {event.by}" if event.by else "")
        case WebhookFailed(stage="risk", code="paused"):
            return f"{head}/{event.account_id} signal {event.signal_id} refused: {event.reason}"
    return None
