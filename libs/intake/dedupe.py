"""Recognising the same alert delivered twice.

The key is the strategy plus the sender's id for the alert (``webhook-id``, the
dialect's alert/signal id) or, failing that, a hash of the exact body. The
``webhook.received`` of an alert is published with a Nats-Msg-Id made from that key,
so JetStream itself drops a repeat inside its duplicate window — atomically, across
every ingress instance, in the same round trip as the publish — and answers with the
first one's stream sequence, from which the first signal id is read.
"""

from __future__ import annotations

import hashlib

from contracts import streams
from contracts.events import decode_event
from libs.runtime.bus import Bus


def dedupe_key(strategy_id: str, sender_id: str, raw_body: bytes) -> str:
    """The identity of an alert of one strategy."""
    basis = f"id:{sender_id}".encode() if sender_id else b"body:" + raw_body
    digest = hashlib.sha256(strategy_id.encode() + b"|" + basis).hexdigest()
    return f"a.{digest}"


def received_msg_id(key: str) -> str:
    """The Nats-Msg-Id of the ``webhook.received`` of the alert ``key``."""
    return f"{key}:received"


async def first_signal_id(bus: Bus, seq: int) -> str:
    """The signal id of the ``webhook.received`` stored at stream sequence ``seq``."""
    stored = await bus.js.get_msg(streams.STREAM, seq=seq)
    return decode_event(stored.data or b"").signal_id
