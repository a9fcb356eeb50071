"""Each delivery's record in NATS KV: its state for the dispatcher and the line of
an endpoint's delivery log for operators.

Key ``<endpoint>.<delivery>`` in :data:`~contracts.streams.BUCKET_CALLBACK_DELIVERIES`
(kept 30 days). The record is the durable state of a delivery: attempts made, when
the next is due, how it ended. ``request_seq`` is the stream sequence of the
``callback.requested`` message that created it, so a repeat of that request (a
fan-out redelivered after the stream's duplicate window) is told apart and dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from contracts.events import CallbackRequested
from contracts.identifiers import CALLBACK_ID, DELIVERY_ID
from libs.registry.kv_keys import matching_keys

Status = Literal["pending", "delivered", "parked"]


class DeliveryRecord(msgspec.Struct, kw_only=True, frozen=True):
    """One delivery of one event to one endpoint."""

    delivery_id: str
    endpoint_id: str
    tenant_id: str
    source_event_id: str
    source_type: str
    signal_id: str
    requested_at: datetime
    request_seq: int
    status: Status = "pending"
    attempts: int = 0
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    last_status_code: int = 0
    last_error: str = ""
    ended_at: datetime | None = None
    redelivery_of: str = ""

    @classmethod
    def requested(cls, request: CallbackRequested, seq: int) -> DeliveryRecord:
        """The record of a new request (no attempt yet)."""
        return cls(delivery_id=request.delivery_id, endpoint_id=request.endpoint_id,
                   tenant_id=request.tenant_id, source_event_id=request.source_event_id,
                   source_type=request.source_type, signal_id=request.signal_id,
                   requested_at=request.occurred_at, request_seq=seq,
                   redelivery_of=request.redelivery_of)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(DeliveryRecord)


def key_of(endpoint_id: str, delivery_id: str) -> str:
    """The KV key of a delivery."""
    return f"{endpoint_id}.{delivery_id}"


class DeliveryLog:
    """Delivery records in KV."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def get(self, endpoint_id: str, delivery_id: str) -> DeliveryRecord | None:
        """One delivery, or None (ids of the wrong shape are never looked up)."""
        if not (CALLBACK_ID.matches(endpoint_id) and DELIVERY_ID.matches(delivery_id)):
            return None
        try:
            entry = await self.kv.get(key_of(endpoint_id, delivery_id))
        except KeyNotFoundError:
            return None
        return _decoder.decode(entry.value) if entry.value else None

    async def claim(self, request: CallbackRequested, seq: int,
                    redelivered: bool = False) -> DeliveryRecord | None:
        """The record of ``request`` (made now if it is new); None when the record
        belongs to another request message with the same delivery id (a repeat).

        A message delivered again (a retry, or a crash before its ack) most likely
        has its record already: it is read first (one round trip) rather than found
        by a failed create (three: the create, the client's check for a deleted key,
        the read)."""
        if redelivered:
            found = await self.get(request.endpoint_id, request.delivery_id)
            if found is not None:
                return found if found.request_seq == seq else None
        record = DeliveryRecord.requested(request, seq)
        try:
            await self.kv.create(key_of(record.endpoint_id, record.delivery_id),
                                 _encoder.encode(record))
            return record
        except KeyWrongLastSequenceError:
            pass  # made already: by this message before a crash, or by a repeat
        found = await self.get(request.endpoint_id, request.delivery_id)
        if found is None or found.request_seq != seq:
            return None
        return found

    async def put(self, record: DeliveryRecord) -> None:
        """Store the record as it is now."""
        await self.kv.put(key_of(record.endpoint_id, record.delivery_id),
                          _encoder.encode(record))

    async def of_endpoint(self, endpoint_id: str) -> list[DeliveryRecord]:
        """Every kept delivery of an endpoint, newest request first."""
        if not CALLBACK_ID.matches(endpoint_id):
            return []
        records = []
        for key in await matching_keys(self.kv, f"{endpoint_id}.*"):
            try:
                entry = await self.kv.get(key)
            except KeyNotFoundError:
                continue
            if entry.value:
                records.append(_decoder.decode(entry.value))
        return sorted(records, key=lambda r: (r.requested_at, r.delivery_id), reverse=True)


def to_builtins(record: DeliveryRecord) -> dict[str, object]:
    """A record as JSON-safe values (times as ISO 8601)."""
    data: dict[str, object] = msgspec.to_builtins(record)
    return data
