"""Redelivery: an operator asks for one delivery, or an endpoint's deliveries in a
time range, to be made again. Each becomes a new delivery (a new ``delivery_id``,
``redelivery_of`` naming the one it repeats) of the same event with the same
``webhook-id``: a receiver that already has it may drop it."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from contracts import streams
from contracts.events import CallbackRequested, decode_event
from libs.callbacks.deliveries import DeliveryRecord, Status
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock
from libs.runtime.ids import derived_event_id


class NotRedeliverable(Exception):
    """The original request is no longer in the stream."""


async def redeliver(bus: Bus, record: DeliveryRecord, by: str, clock: Clock) -> str:
    """Request ``record``'s event again for its endpoint; the new delivery's id."""
    try:
        raw = await bus.js.get_msg(streams.STREAM, seq=record.request_seq)
        original = decode_event(raw.data or b"")
    except Exception as exc:
        raise NotRedeliverable(f"delivery {record.delivery_id}: its request is gone "
                               f"({type(exc).__name__})") from exc
    if not isinstance(original, CallbackRequested) or \
            original.delivery_id != record.delivery_id:
        raise NotRedeliverable(f"delivery {record.delivery_id}: its request is gone")
    delivery_id = f"dlv-{uuid.uuid4().hex[:24]}"
    again = msgspec.structs.replace(
        original, event_id=derived_event_id(delivery_id, "requested"),
        occurred_at=clock.now(), delivery_id=delivery_id,
        redelivery_of=record.delivery_id, by=by)
    await bus.publish_event(again, streams.message_id(delivery_id, "requested"))
    return delivery_id


def in_range(records: list[DeliveryRecord], since: datetime | None, until: datetime | None,
             status: Status | None) -> list[DeliveryRecord]:
    """The records requested in ``[since, until)`` with ``status`` (None: any)."""
    return [r for r in records
            if (since is None or r.requested_at >= since)
            and (until is None or r.requested_at < until)
            and (status is None or r.status == status)]
