"""The registry as the event store remembers it: tenants, accounts and strategies
folded from the ``registry.*`` events (and the breaker's pauses).

Every registry event carries the whole record after the change, secrets sealed with
the master key, so the newest event of each record *is* its stored form. Events
written before records were carried (schema without ``record``) cannot be rebuilt
and are counted, so an operator knows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contracts.events import (
    AccountOpened,
    AccountResumed,
    AccountUpdated,
    AnyEvent,
    BreakerTripped,
    CallbackCreated,
    CallbackEndpointDisabled,
    CallbackEndpointFailing,
    CallbackEndpointRecovered,
    CallbackSecretRotated,
    CallbackUpdated,
    RegistryChange,
    StrategyRegistered,
    StrategySecretRotated,
    StrategyUpdated,
    TenantCreated,
    TenantUpdated,
)

_KIND: dict[type[RegistryChange], str] = {
    TenantCreated: "tenant", TenantUpdated: "tenant",
    AccountOpened: "account", AccountUpdated: "account", AccountResumed: "account",
    StrategyRegistered: "strategy", StrategySecretRotated: "strategy",
    StrategyUpdated: "strategy",
    CallbackCreated: "callback", CallbackUpdated: "callback", CallbackSecretRotated: "callback",
    CallbackEndpointFailing: "callback", CallbackEndpointRecovered: "callback",
    CallbackEndpointDisabled: "callback",
}


@dataclass
class RegistryFold:
    """Stored forms by registry key (``tenant.<id>``, ``account.<id>``, ``strategy.<id>``)."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    applied: int = 0
    without_record: int = 0

    def apply(self, event: AnyEvent) -> None:
        """Fold one stored event (others are ignored)."""
        if isinstance(event, RegistryChange):
            if not event.record or "id" not in event.record:
                self.without_record += 1
                return
            self.records[f"{_KIND[type(event)]}.{event.record['id']}"] = dict(event.record)
            self.applied += 1
        elif isinstance(event, BreakerTripped) and event.paused:
            # The breaker pauses without a registry event of its own.
            key = f"account.{event.account_id}"
            if key in self.records:
                self.records[key] = {**self.records[key], "paused": True,
                                     "paused_reason": event.reason}
                self.applied += 1


def fold_registry(events: Iterable[AnyEvent]) -> RegistryFold:
    """The registry after every event of ``events``, in order."""
    fold = RegistryFold()
    for event in events:
        fold.apply(event)
    return fold
