"""What the dispatcher marks on an endpoint, kept in KV
(:data:`~contracts.streams.BUCKET_CALLBACK_HEALTH`, key = the endpoint's id):
deliveries parked in a row, failing, disabled by the dispatcher. Changed only by
compare-and-set; cleared when an operator switches the endpoint on again."""

from __future__ import annotations

import contextlib

import msgspec
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue


class Marks(msgspec.Struct, frozen=True):
    """An endpoint's marks."""

    streak: int = 0
    failing: bool = False
    disabled: bool = False


async def read_marks(kv: KeyValue, endpoint_id: str) -> tuple[Marks, int]:
    """The marks and their revision (0: none yet)."""
    try:
        entry = await kv.get(endpoint_id)
    except KeyNotFoundError:
        return Marks(), 0
    marks = msgspec.json.decode(entry.value, type=Marks) if entry.value else Marks()
    return marks, int(entry.revision or 0)


async def write_marks(kv: KeyValue, endpoint_id: str, marks: Marks, revision: int) -> int:
    """Store ``marks`` if the stored ones are still at ``revision`` (nats-py raises
    KeyWrongLastSequenceError otherwise); the new revision."""
    data = msgspec.json.encode(marks)
    if revision == 0:
        return int(await kv.create(endpoint_id, data))
    return int(await kv.update(endpoint_id, data, last=revision))


async def reset_marks(kv: KeyValue, endpoint_id: str) -> None:
    """Forget an endpoint's marks (it was switched on again)."""
    with contextlib.suppress(KeyNotFoundError):
        await kv.delete(endpoint_id)
