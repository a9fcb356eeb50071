"""Registering a callback endpoint and rotating its secret: the registry write and
the event that records it (shared by the operator API and the CLI)."""

from __future__ import annotations

from datetime import timedelta

from contracts import streams
from contracts.events import CallbackCreated, CallbackSecretRotated
from libs.registry.models import CallbackEndpoint
from libs.registry.secrets import fingerprint, rotated
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock
from libs.runtime.ids import derived_event_id


async def register_callback(bus: Bus, registry: Registry, endpoint: CallbackEndpoint,
                            clock: Clock) -> None:
    """Store the endpoint and publish ``registry.callback_created`` (no secret)."""
    await registry.put(endpoint)
    corr = f"callback:{endpoint.id}"
    event = CallbackCreated(
        event_id=derived_event_id(corr, "created"), signal_id=corr,
        tenant_id=endpoint.tenant_id, occurred_at=clock.now(), endpoint_id=endpoint.id,
        url=endpoint.url, event_types=list(endpoint.event_types),
        secret_fingerprint=fingerprint(endpoint.secret), record=registry.stored_form(endpoint))
    await bus.publish_event(event, streams.message_id(corr, "created"))


async def rotate_callback_secret(bus: Bus, registry: Registry, endpoint_id: str,
                                 overlap_s: float, clock: Clock) -> CallbackEndpoint | None:
    """A new signing secret; deliveries carry signatures of both for ``overlap_s``.
    The updated endpoint (its ``secret`` the new one, to show once), or None."""
    endpoint = await registry.callback(endpoint_id)
    if endpoint is None:
        return None
    now = clock.now()
    until = now + timedelta(seconds=overlap_s)
    fresh = rotated(endpoint, endpoint.secret, until)
    await registry.put(fresh)
    corr = f"callback:{endpoint_id}"
    stage = f"rotated:{int(now.timestamp() * 1000)}"
    event = CallbackSecretRotated(
        event_id=derived_event_id(corr, stage), signal_id=corr,
        tenant_id=endpoint.tenant_id, occurred_at=now, endpoint_id=endpoint_id,
        secret_fingerprint=fingerprint(fresh.secret),
        previous_fingerprint=fingerprint(endpoint.secret), previous_valid_until=until,
        record=registry.stored_form(fresh))
    await bus.publish_event(event, streams.message_id(corr, stage))
    return fresh
