"""A consumer's first fetch after a start: messages a stopped instance still holds
must be handled before newer ones.

A crashed instance's messages come back only when their ack wait runs out, but new
messages would be delivered at once and overtake them: an account's open could reach
the broker before the close it sent first, or its fills be recorded out of broker
order. Messages a clean stop handed back (nak) are redelivered at once, ahead of new
ones. So: fetch as many as the consumer has out; if they all came back, nothing is
held elsewhere. Otherwise keep what came (extending its ack wait), wait one ack wait
for the rest to come back, fetch again, and hand everything over in stream order.
Stopped meanwhile (a service stop, or a partition given to another instance), the
messages in hand are given back, not handled: the held ones must still come first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats.errors
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from contracts.streams import ConsumerSpec
from libs.runtime.bus import Bus
from libs.runtime.timers import stopped_within

log = logging.getLogger(__name__)
# Slack after the ack wait for the server's redelivery timer to fire.
REDELIVERY_MARGIN_S = 0.5
MAX_FIRST_BATCH = 256


async def _fetch(sub: JetStreamContext.PullSubscription, count: int,
                 timeout: float) -> list[Msg]:
    try:
        return await sub.fetch(max(1, min(count, MAX_FIRST_BATCH)), timeout=timeout)
    except (TimeoutError, nats.errors.TimeoutError):
        return []


async def _hold(msgs: list[Msg], stop: asyncio.Event, seconds: float,
                every: float) -> None:
    """Keep ``msgs`` ours (in progress) for ``seconds`` or until ``stop``."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while (left := until - loop.time()) > 0:
        if await stopped_within(stop, min(every, left)):
            return
        for msg in msgs:
            with contextlib.suppress(Exception):  # acked or disconnected: fine
                await msg.in_progress()


async def _give_back(msgs: list[Msg]) -> None:
    for msg in msgs:
        with contextlib.suppress(Exception):  # left unacked: back after the ack wait
            await msg.nak()


async def first_batch(bus: Bus, spec: ConsumerSpec, sub: JetStreamContext.PullSubscription,
                      stop: asyncio.Event) -> list[Msg]:
    """The messages to handle first, in stream order (empty: just start fetching)."""
    try:
        info = await bus.js.consumer_info(spec.stream, spec.durable)
    except Exception as exc:  # NATS trouble: the fetch loop copes with it
        log.warning("%s: consumer info failed: %r", spec.durable, exc)
        return []
    out = info.num_ack_pending
    if not out:
        return []
    msgs = await _fetch(sub, out, timeout=0.5)
    came_back = [m for m in msgs if m.metadata.num_delivered > 1]
    if len(came_back) >= out:
        return msgs
    log.info("%s: %d message(s) are held by a stopped instance; letting them come back "
             "first (%.0f s)", spec.durable, out - len(came_back), spec.ack_wait_s)
    await _hold(msgs, stop, spec.ack_wait_s + REDELIVERY_MARGIN_S,
                max(spec.ack_wait_s / 3, 0.1))
    if stop.is_set():
        # Stopped (or the partition moved on) while earlier messages are still held
        # elsewhere: handling these now would let them overtake those. Give them
        # back; whoever consumes next waits for the rest the same way.
        await _give_back(msgs)
        return []
    seen = {m.metadata.sequence.stream for m in msgs}
    more = [m for m in await _fetch(sub, out, timeout=1.0)
            if m.metadata.sequence.stream not in seen]
    return sorted(msgs + more, key=lambda m: m.metadata.sequence.stream)
