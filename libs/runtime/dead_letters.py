"""Parking a message a consumer cannot handle on ``deadletter.<consumer>``.

The dead letter is the original payload, published to the main stream with
headers that say where it came from and why it was given up:

``Tradehooks-Original-Subject``, ``Tradehooks-Original-Stream``,
``Tradehooks-Stream-Seq``, ``Tradehooks-Consumer``, ``Tradehooks-Reason``,
``Tradehooks-Deliveries``.

Its Nats-Msg-Id is derived from the consumer and the original stream sequence,
so parking the same message twice (a crash between parking and ``term``) leaves
one dead letter.
"""

from __future__ import annotations

import re

from nats.aio.msg import Msg

from contracts import streams
from contracts.subjects import dead_letter_subject
from libs.runtime.bus import Bus

ORIGINAL_SUBJECT = "Tradehooks-Original-Subject"
ORIGINAL_STREAM = "Tradehooks-Original-Stream"
STREAM_SEQ = "Tradehooks-Stream-Seq"
CONSUMER = "Tradehooks-Consumer"
REASON = "Tradehooks-Reason"
DELIVERIES = "Tradehooks-Deliveries"

# Header values are one line of printable text; exception messages may be neither.
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]+")
MAX_REASON = 500


def dead_letter_headers(msg: Msg, consumer: str, reason: str, deliveries: int) -> dict[str, str]:
    """The headers (and idempotent message id) of the dead letter for ``msg``."""
    meta = msg.metadata
    seq = meta.sequence.stream
    return {
        "Nats-Msg-Id": f"dlq:{consumer}:{meta.stream}:{seq}",
        ORIGINAL_SUBJECT: msg.subject,
        ORIGINAL_STREAM: meta.stream,
        STREAM_SEQ: str(seq),
        CONSUMER: consumer,
        REASON: _NOT_PRINTABLE.sub(" ", reason).strip()[:MAX_REASON] or "unknown",
        DELIVERIES: str(deliveries),
    }


async def park(bus: Bus, msg: Msg, consumer: str, reason: str, deliveries: int) -> None:
    """Publish ``msg`` durably to ``deadletter.<consumer>`` (raises if NATS refuses)."""
    await bus.js.publish(
        dead_letter_subject(consumer), msg.data, stream=streams.STREAM,
        headers=dead_letter_headers(msg, consumer, reason, deliveries),
    )
