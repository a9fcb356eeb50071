"""The durable-consumer loop every pipeline service runs.

A message is acked only after the handler's output events are published (each
with a Nats-Msg-Id, so a redelivery re-publishes nothing new). A handler error
naks with backoff; on the last allowed delivery the service's ``on_exhausted``
turns the message into a ``webhook.failed`` event so the signal still ends.
Undecodable messages go to ``deadletter.<consumer>`` and never block the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from contracts import streams
from contracts.events import Event, decode_event, event_type
from contracts.subjects import dead_letter_subject
from services.runtime import metrics
from services.runtime.bus import Bus
from services.runtime.clock import SystemClock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """An event to publish, with the message id that makes its publish idempotent."""

    event: Event
    msg_id: str


Handler = Callable[[Any], Awaitable[Sequence[Outgoing]]]
OnExhausted = Callable[[Any, str], Sequence[Outgoing]]


class Consumer:
    """Pulls from one durable consumer and dispatches to a handler, in order."""

    def __init__(
        self,
        bus: Bus,
        spec: streams.ConsumerSpec,
        handle: Handler,
        on_exhausted: OnExhausted | None = None,
        batch: int = 32,
        decode: Callable[[bytes], Any] = decode_event,
    ) -> None:
        self.bus = bus
        self.spec = spec
        self.handle = handle
        self.on_exhausted = on_exhausted
        self.batch = batch
        self.decode = decode
        self._resubscribe = asyncio.Event()
        self._clock = SystemClock()
        self.idle = asyncio.Event()
        self._batch: list[Msg] = []

    def on_reconnected(self) -> None:
        """Pull subscriptions can go deaf after a reconnect (nats.py #504): rebuild."""
        self._resubscribe.set()

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        filters = self.spec.filter_subjects
        config = ConsumerConfig(
            name=self.spec.durable,
            durable_name=self.spec.durable,
            filter_subject=filters[0] if len(filters) == 1 else None,
            filter_subjects=list(filters) if len(filters) > 1 else None,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.spec.ack_wait_s,
            max_deliver=-1,  # we count deliveries ourselves and end the signal cleanly
            max_ack_pending=1000,
        )
        await self.bus.js.add_consumer(self.spec.stream, config)
        return await self.bus.js.pull_subscribe_bind(
            durable=self.spec.durable, stream=self.spec.stream
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the message in hand is finished first."""
        sub = await self._subscribe()
        while not stop.is_set():
            if self._resubscribe.is_set():
                self._resubscribe.clear()
                sub = await self._resubscribe_safely(sub)
            try:
                msgs = await sub.fetch(self.batch, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                self.idle.set()
                continue
            except Exception as exc:  # connection trouble: back off and rebuild
                log.warning("%s fetch failed: %r", self.spec.durable, exc)
                await asyncio.sleep(0.5)
                sub = await self._resubscribe_safely(sub)
                continue
            self.idle.clear()
            await self.process_batch(msgs)
        with contextlib.suppress(Exception):  # closing anyway
            await sub.unsubscribe()

    async def process_batch(self, msgs: list[Msg]) -> None:
        """Handle fetched messages one after another (keeps per-account order)."""
        self._batch = msgs
        for msg in msgs:
            await self._process(msg)
        self._batch = []

    async def _resubscribe_safely(
        self, sub: JetStreamContext.PullSubscription
    ) -> JetStreamContext.PullSubscription:
        while True:
            with contextlib.suppress(Exception):  # the old subscription may be gone
                await sub.unsubscribe()
            try:
                return await self._subscribe()
            except Exception as exc:
                log.warning("%s resubscribe failed: %r", self.spec.durable, exc)
                await asyncio.sleep(1.0)

    async def _process(self, msg: Msg) -> None:
        durable = self.spec.durable
        try:
            event = self.decode(msg.data)
        except msgspec.DecodeError as exc:
            await self.dead_letter(msg, f"undecodable: {exc}")
            return
        # Retry in place rather than nak: a nak would let the messages behind this
        # one (the same account's next signal, say) overtake it, and order matters
        # per account. Deliveries after a crash count towards the same limit.
        attempt = msg.metadata.num_delivered
        limit = self.spec.max_deliver
        while True:
            try:
                outgoing = await self.handle(event)
                await self._publish(outgoing)
                break
            except Exception as exc:
                log.exception("%s failed on %s (attempt %d)", durable, _describe(event), attempt)
                if limit > 0 and attempt >= limit:
                    await self._give_up(msg, event, f"{type(exc).__name__}: {exc}")
                    return
                metrics.EVENTS_HANDLED.labels(durable, "retry").inc()
                backoff = self.spec.backoff_s[min(attempt - 1, len(self.spec.backoff_s) - 1)]
                # Keep this message and the ones queued behind it ours while we wait.
                for held in self._batch or [msg]:
                    with contextlib.suppress(Exception):
                        await held.in_progress()
                await asyncio.sleep(backoff)
                attempt += 1
        await msg.ack()
        metrics.EVENTS_HANDLED.labels(durable, "ok").inc()
        occurred = getattr(event, "occurred_at", None)
        if occurred is not None:
            elapsed = (self._clock.now() - occurred).total_seconds()
            metrics.STAGE_LATENCY.labels(self.spec.stage).observe(max(elapsed, 0.0))

    async def _publish(self, outgoing: Sequence[Outgoing]) -> None:
        for item in outgoing:
            await self.bus.publish_event(item.event, item.msg_id)
            metrics.EVENTS_PUBLISHED.labels(event_type(item.event)).inc()

    async def _give_up(self, msg: Msg, event: Any, reason: str) -> None:
        """Last delivery failed: end the signal with a failure event, then drop it."""
        try:
            if self.on_exhausted is not None and isinstance(event, Event):
                await self._publish(self.on_exhausted(event, reason))
            else:
                await self.dead_letter(msg, reason)
                return
        except Exception:
            log.exception("%s could not publish the give-up event; retrying", self.spec.durable)
            await msg.nak(delay=self.spec.backoff_s[-1])
            return
        metrics.EVENTS_HANDLED.labels(self.spec.durable, "exhausted").inc()
        await msg.term()

    async def dead_letter(self, msg: Msg, reason: str) -> None:
        """Park an unusable message on ``deadletter.<consumer>`` and drop it."""
        seq = msg.metadata.sequence.stream
        headers = {
            "Nats-Msg-Id": f"dlq:{self.spec.durable}:{seq}",
            "Tradehooks-Original-Subject": msg.subject,
            "Tradehooks-Reason": reason[:500],
        }
        await self.bus.js.publish(
            dead_letter_subject(self.spec.durable), msg.data, stream=streams.STREAM,
            headers=headers,
        )
        metrics.DEAD_LETTERS.labels(self.spec.durable).inc()
        log.error("%s parked stream seq %d on the dead-letter subject: %s",
                  self.spec.durable, seq, reason)
        await msg.term()


def _describe(message: Any) -> str:
    return event_type(message) if isinstance(message, Event) else type(message).__name__
