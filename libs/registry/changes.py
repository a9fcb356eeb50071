"""Changing a registry record: store it, then record what changed as an event.

Every event carries the whole record after the change (secrets sealed), so the
event store alone can rebuild the registry (``tradehooks rebuild-registry``).
"""

from __future__ import annotations

from typing import Any

from contracts import streams
from contracts.events import (
    AccountUpdated,
    CallbackUpdated,
    RegistryChange,
    StrategyUpdated,
    TenantUpdated,
)
from libs.registry.models import Account, CallbackEndpoint, Record, Strategy, Tenant, kind_of
from libs.registry.store import Registry
from libs.registry.views import changed_fields
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock, new_id
from libs.runtime.ids import derived_event_id


def tenant_of(record: Record) -> str:
    """The tenant a record belongs to."""
    return record.id if isinstance(record, Tenant) else record.tenant_id


async def save_change(bus: Bus, registry: Registry, before: Record, after: Record,
                      clock: Clock, by: str) -> dict[str, Any]:
    """Store ``after`` and publish its ``registry.*_updated`` event naming what changed
    and who changed it; returns the changes (nothing is published when none)."""
    await registry.put(after)
    changes = changed_fields(before, after)
    if not changes:
        return changes
    correlation = f"{kind_of(after)}:{after.id}"
    stage = f"updated:{new_id()}"
    common: dict[str, Any] = {
        "event_id": derived_event_id(correlation, stage), "signal_id": correlation,
        "tenant_id": tenant_of(after), "occurred_at": clock.now(), "changes": changes,
        "by": by, "record": registry.stored_form(after)}
    event: RegistryChange
    if isinstance(after, CallbackEndpoint):
        event = CallbackUpdated(endpoint_id=after.id, **common)
    elif isinstance(after, Strategy):
        event = StrategyUpdated(strategy_id=after.id, **common)
    elif isinstance(after, Account):
        event = AccountUpdated(account_id=after.id, **common)
    else:
        event = TenantUpdated(**common)
    await bus.publish_event(event, streams.message_id(correlation, stage))
    return changes
