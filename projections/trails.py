"""The event store's aggregate: everything that happened under one correlation id."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

_NAMESPACE = uuid5(NAMESPACE_URL, "https://tradehooks.dev/trail")


class Trail(Aggregate):
    """The ordered events of one signal (or one registry entity).

    Every pipeline event is stored once as a ``Trail.Recorded`` domain event; the
    notification log of the store is therefore the complete, ordered history.
    """

    @staticmethod
    def create_id(correlation_id: str) -> UUID:
        """Deterministic aggregate id, so any auditor instance finds the same trail."""
        return uuid5(_NAMESPACE, correlation_id)

    @event("Started")
    def __init__(self, correlation_id: str) -> None:
        self.correlation_id = correlation_id
        self.entries: list[dict[str, Any]] = []
        self.event_ids: list[str] = []

    @event("Recorded")
    def record(self, event_id: str, event_type: str, body: dict[str, Any]) -> None:
        """Append one pipeline event (its full JSON body)."""
        self.event_ids.append(event_id)
        self.entries.append(body)

    def has(self, event_id: str) -> bool:
        """True when the event is already in the trail (redelivery)."""
        return event_id in self.event_ids
