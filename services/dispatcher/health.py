"""Endpoint health: parked deliveries in a row, the failing mark, disabling.

The dispatcher's marks live in KV (:mod:`libs.callbacks.marks`), changed by
compare-and-set so concurrent deliveries count exactly; each change is then
mirrored on the endpoint's registry record (``failing``, ``enabled``,
``disabled_reason``) and announced by an event.
"""

from __future__ import annotations

import logging
from typing import Any

from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from contracts import streams
from contracts.events import (
    CallbackChange,
    CallbackEndpointDisabled,
    CallbackEndpointFailing,
    CallbackEndpointRecovered,
)
from libs.callbacks.marks import Marks, read_marks, write_marks
from libs.registry.models import CallbackEndpoint
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock
from libs.runtime.ids import derived_event_id
from services.dispatcher.machine import Health, HealthChange, RetryPolicy, health_after

log = logging.getLogger(__name__)
_CAS_TRIES = 20


class HealthBook:
    """Counts endpoints' parked deliveries and acts on them."""

    def __init__(self, bus: Bus, registry: Registry, kv: KeyValue, clock: Clock,
                 policy: RetryPolicy) -> None:
        self.bus = bus
        self.registry = registry
        self.kv = kv
        self.clock = clock
        self.policy = policy

    async def ended(self, endpoint_id: str, *, delivered: bool, gone: bool = False,
                    reason: str = "") -> list[HealthChange]:
        """One delivery to the endpoint ended (delivered, or parked by its attempts):
        update the marks and announce what changed."""
        for _ in range(_CAS_TRIES):
            marks, revision = await read_marks(self.kv, endpoint_id)
            health = Health(marks.streak, marks.failing, not marks.disabled)
            after, changes = health_after(health, delivered=delivered, gone=gone,
                                          policy=self.policy)
            if after == health:
                return []
            fresh = Marks(after.streak, after.failing, not after.enabled)
            try:
                revision = await write_marks(self.kv, endpoint_id, fresh, revision)
            except KeyWrongLastSequenceError:
                continue  # another delivery of the endpoint ended meanwhile
            if changes:
                await self._announce(endpoint_id, changes, after, reason, revision)
            return changes
        log.warning("health of callback %s not updated: too many concurrent changes",
                    endpoint_id)
        return []

    async def _announce(self, endpoint_id: str, changes: list[HealthChange], health: Health,
                        reason: str, revision: int) -> None:
        """Mirror the marks on the registry record and publish an event per change."""
        endpoint = await self.registry.callback(endpoint_id)
        if endpoint is None:
            return
        update: dict[str, object] = {"failing": health.failing}
        if "disabled" in changes:
            update.update(enabled=False, disabled_reason=reason)
        marked = endpoint.model_copy(update=update)
        await self.registry.put(marked)
        for change in changes:
            event = self._event(marked, change, health.streak, reason, revision)
            await self.bus.publish_event(
                event, streams.message_id(event.signal_id, f"{change}:{revision}"))

    def _event(self, endpoint: CallbackEndpoint, change: HealthChange, streak: int,
               reason: str, revision: int) -> CallbackChange:
        corr = f"callback:{endpoint.id}"
        common: dict[str, Any] = {"event_id": derived_event_id(corr, f"{change}:{revision}"),
                  "signal_id": corr, "tenant_id": endpoint.tenant_id,
                  "occurred_at": self.clock.now(), "endpoint_id": endpoint.id,
                  "record": self.registry.stored_form(endpoint)}
        if change == "failing":
            return CallbackEndpointFailing(streak=streak, reason=reason, **common)
        if change == "disabled":
            return CallbackEndpointDisabled(streak=streak, reason=reason, **common)
        return CallbackEndpointRecovered(**common)
