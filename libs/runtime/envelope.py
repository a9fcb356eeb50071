"""Skipping events nobody wants without decoding them.

A consumer that reads many events to act on few (the dispatcher's fan-out, for
tenants without callback endpoints) can give :class:`~libs.runtime.consumer.Consumer`
the decode :func:`decode_unless` makes: it reads only the message's envelope (its
``type`` and ``tenant_id``; msgspec skips the other fields without building them) and,
when the consumer does not want that type for that tenant, answers a
:class:`Skipped` instead of the event. No handler table registers ``Skipped``, so it
is answered with nothing and acked.

Undecodable messages are unchanged: when the envelope cannot be read, or names a type
that is no event, the full decode runs and raises its own ``msgspec.DecodeError``
(the consumer parks the message, as before). A message whose envelope is fine but
whose other fields are not is parked only when it is wanted: skipping it is what
saves the full decode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

import msgspec

from contracts.events import AnyEvent, decode_event

# Every event type's tag (an envelope naming anything else is decoded in full, to fail).
EVENT_TYPES: frozenset[str] = frozenset(
    str(cls.__struct_config__.tag) for cls in get_args(AnyEvent))


class Envelope(msgspec.Struct):
    """The two fields of an event a consumer needs to know whether it wants it."""

    type: str
    tenant_id: str


class Skipped(msgspec.Struct, frozen=True):
    """An event its consumer does not want (handled as nothing, then acked)."""

    type: str
    tenant_id: str


_envelope = msgspec.json.Decoder(Envelope)
# (event type, tenant id) -> whether the consumer wants such an event.
Wanted = Callable[[str, str], bool]


def decode_unless(wanted: Wanted) -> Callable[[bytes], AnyEvent | Skipped]:
    """A consumer's decode that answers :class:`Skipped` for the events ``wanted``
    refuses, and the decoded event otherwise (raises ``msgspec.DecodeError`` for
    undecodable data, as :func:`~contracts.events.decode_event` does)."""

    def decode(data: bytes) -> AnyEvent | Skipped:
        try:
            envelope = _envelope.decode(data)
        except msgspec.DecodeError:
            return decode_event(data)  # raises the error the consumer always saw
        if envelope.type in EVENT_TYPES and not wanted(envelope.type, envelope.tenant_id):
            return Skipped(envelope.type, envelope.tenant_id)
        return decode_event(data)

    return decode
