"""Answer "what did this account look like at ...?" from the event store.

Shared by ``GET /api/v1/accounts/{id}?as_of=`` and ``tradehooks account-at``: the
moment is a store position (digits) or an ISO 8601 time (UTC when it names no zone).
A time means "after the account's last stored event that occurred at or before it".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from projections.store import EventStore
from projections.timeline import instant, strategy_to_api, to_api
from projections.timeline_projector import position_at_time, state_at, strategy_position
from projections.timeline_store import TimelineStore


def parse_moment(text: str) -> int | str:
    """A store position, or a time as the timeline's sortable text; ValueError if
    ``text`` is neither."""
    text = text.strip()
    if text.isdigit():
        if len(text) > 18:
            raise ValueError("the position is too large")
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("as_of must be an ISO 8601 time (2026-12-01T14:30:00Z) or a "
                         "store position (digits)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return instant(moment)


def account_as_of(store: EventStore, timeline: TimelineStore, account: str,
                  moment: int | str, requested: str) -> dict[str, Any] | None:
    """The account's API body as of ``moment`` (see :func:`parse_moment`), or None
    when it had no stored event by then."""
    if isinstance(moment, int):
        position: int | None = moment
    else:
        position = position_at_time(store, timeline, account, moment)
    if position is None:
        return None
    state = state_at(store, timeline, account, position)
    return to_api(state, requested) if state is not None else None


def strategy_as_of(store: EventStore, timeline: TimelineStore, strategy_id: str,
                   moment: int | str, requested: str) -> dict[str, Any] | None:
    """The strategy's settings as of ``moment`` (its last registry event by then), or
    None when it was not registered yet."""
    position = strategy_position(store, timeline, strategy_id, moment)
    if position is None:
        return None
    ((_, event),) = store.events_at([position])
    return strategy_to_api(event, position, requested)
