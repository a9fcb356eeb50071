"""The delivery consumer: one attempt per ``callback.requested`` message at a time,
retried by JetStream.

Each message is one delivery. Its record (:mod:`libs.callbacks.deliveries`) is the
durable state: made when the message first arrives, updated after every attempt.
A failed attempt naks the message with the backoff's delay, so the retry waits in
JetStream, not in memory: a dispatcher killed at any moment loses nothing (what it
held is redelivered after the ack wait) and a message that comes back before its
time waits again. Attempts run concurrently (``TRADEHOOKS_CALLBACK_CONCURRENCY``),
across endpoints and within one.

Per attempt, in this order: the ``callback.attempted`` event (and ``callback.parked``
when the delivery is given up), the record, the endpoint's health, then the ack or
the nak. A crash in between repeats the attempt (at least once; the receiver
de-duplicates by ``webhook-id``), and the events' message ids keep the trail to one
event per attempt number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Literal

import msgspec
import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from contracts import streams
from contracts.events import CallbackAttempted, CallbackParked, CallbackRequested, decode_event
from libs.callbacks.deliveries import DeliveryLog, DeliveryRecord
from libs.registry.models import CallbackEndpoint
from libs.registry.store import Registry
from libs.runtime import metrics
from libs.runtime.bus import Bus, is_bus_error
from libs.runtime.clock import Clock
from libs.runtime.ids import derived_event_id
from libs.runtime.timers import stopped_within
from services.dispatcher.health import HealthBook
from services.dispatcher.machine import (
    RetryPolicy,
    after_attempt,
    before_attempt,
    park_reason,
    parked,
)
from services.dispatcher.sender import Sender

log = logging.getLogger(__name__)
AttemptOutcome = Literal["delivered", "failed", "refused"]
# A message whose handling failed (NATS away, a bug) comes back after this long.
AGAIN_AFTER_ERROR_S = 2.0
# Deliveries waiting for a retry are unacknowledged messages of the consumer: this
# many may wait at once (beyond it, new deliveries wait until some end).
MAX_WAITING = 50_000
STOP_GRACE_S = 8.0
ACK_WAIT_MARGIN_S = 10.0


class DeliveryWorker:
    """Pulls deliveries and attempts them."""

    def __init__(self, bus: Bus, registry: Registry, deliveries: DeliveryLog,
                 health: HealthBook, sender: Sender, policy: RetryPolicy, clock: Clock,
                 concurrency: int, rand: Callable[[], float] = random.random) -> None:
        self.bus = bus
        self.registry = registry
        self.deliveries = deliveries
        self.health = health
        self.sender = sender
        self.policy = policy
        self.clock = clock
        self.concurrency = concurrency
        self.rand = rand
        self.spec = streams.DISPATCHER_DELIVERIES
        # What a killed dispatcher held comes back after the ack wait: an attempt's
        # longest time (it reports progress just before) and a margin, no more.
        self.ack_wait_s = sender.timeout_s + ACK_WAIT_MARGIN_S
        self._resubscribe = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def on_reconnected(self) -> None:
        """Pull subscriptions can go deaf after a reconnect (nats.py #504): rebuild."""
        self._resubscribe.set()

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(
            name=self.spec.durable, durable_name=self.spec.durable,
            filter_subject=self.spec.filter_subjects[0], ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL, ack_wait=self.ack_wait_s, max_deliver=-1,
            max_ack_pending=MAX_WAITING)
        await self.bus.js.add_consumer(self.spec.stream, config)
        return await self.bus.js.pull_subscribe_bind(durable=self.spec.durable,
                                                     stream=self.spec.stream)

    async def _subscription(self, stop: asyncio.Event) -> JetStreamContext.PullSubscription | None:
        while True:
            try:
                return await self._subscribe()
            except Exception as exc:
                if not is_bus_error(exc):
                    raise
                log.warning("%s subscribe failed: %r; retrying", self.spec.durable, exc)
                if await stopped_within(stop, 1.0):
                    return None

    async def run(self, stop: asyncio.Event) -> None:
        """Attempt deliveries until ``stop``; attempts in flight finish first."""
        try:
            sub = await self._subscription(stop)
            while sub is not None and not stop.is_set():
                free = self.concurrency - len(self._tasks)
                if free <= 0:
                    await asyncio.wait(self._tasks, timeout=1.0,
                                       return_when=asyncio.FIRST_COMPLETED)
                    continue
                if self._resubscribe.is_set():
                    self._resubscribe.clear()
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    sub = await self._subscription(stop)
                    continue
                try:
                    msgs = await sub.fetch(free, timeout=1.0)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                except Exception as exc:  # connection trouble: back off and rebuild
                    log.warning("%s fetch failed: %r", self.spec.durable, exc)
                    if await stopped_within(stop, 0.5):
                        break
                    self._resubscribe.set()
                    continue
                for msg in msgs:
                    task = asyncio.create_task(self._handle(msg))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=STOP_GRACE_S)
        finally:
            await self.sender.session.close()

    async def _handle(self, msg: Msg) -> None:
        try:
            await self.process(msg)
        except Exception as exc:
            if is_bus_error(exc):
                log.warning("%s: a delivery waits for the event bus (%r)",
                            self.spec.durable, exc)
            else:
                log.error("%s: handling a delivery failed; it comes back",
                          self.spec.durable, exc_info=exc)
            with contextlib.suppress(Exception):  # else: redelivered after the ack wait
                await msg.nak(delay=AGAIN_AFTER_ERROR_S)

    async def process(self, msg: Msg) -> None:
        """Handle one delivery message: attempt it, or wait, park or drop it."""
        try:
            request = decode_event(msg.data)
        except msgspec.DecodeError:
            log.error("%s: dropped stream seq %d: not an event", self.spec.durable,
                      msg.metadata.sequence.stream)
            await msg.term()
            return
        if not isinstance(request, CallbackRequested):
            await msg.ack()
            return
        record = await self.deliveries.claim(request, msg.metadata.sequence.stream,
                                             redelivered=msg.metadata.num_delivered > 1)
        if record is None:  # a repeat of a request handled under its first message
            await msg.ack()
            return
        endpoint = await self.registry.callback(request.endpoint_id)
        now = self.clock.now()
        step = before_attempt(record, None if endpoint is None else endpoint.enabled, now)
        if step.action == "done":
            await msg.ack()
        elif step.action == "wait":
            await msg.nak(delay=step.wait_s)
        elif step.action == "park":
            await self._park(request, parked(record, now), step.reason)
            await msg.ack()
        else:
            assert endpoint is not None  # before_attempt said so
            await self._attempt(msg, request, record, endpoint)

    async def _attempt(self, msg: Msg, request: CallbackRequested, record: DeliveryRecord,
                       endpoint: CallbackEndpoint) -> None:
        """One attempt, and what follows from its outcome."""
        await msg.in_progress()  # the attempt may take the whole timeout
        outcome = await self.sender.attempt(endpoint.url,
                                            endpoint.signing_secrets(self.clock.now()),
                                            request, record.attempts + 1)
        now = self.clock.now()
        after = after_attempt(record, outcome, now, self.policy, self.rand())
        await self._attempted(request, after, outcome.refused)
        if after.status == "pending":
            await self.deliveries.put(after)
            wait = (after.next_attempt_at or now) - self.clock.now()
            await msg.nak(delay=max(wait.total_seconds(), 0.0))
            return
        reason = ""
        if after.status == "parked":
            reason = park_reason(after, self.policy)
            await self._park(request, after, reason)
        else:
            await self.deliveries.put(after)
        await self.health.ended(endpoint.id, delivered=after.status == "delivered",
                                gone=outcome.gone, reason=reason)
        await msg.ack()

    async def _attempted(self, request: CallbackRequested, record: DeliveryRecord,
                         refused: bool) -> None:
        outcome: AttemptOutcome = "delivered" if record.status == "delivered" else \
            "refused" if refused else "failed"
        metrics.CALLBACK_ATTEMPTS.labels(outcome).inc()
        stage = f"attempt:{record.attempts}"
        event = CallbackAttempted(
            event_id=derived_event_id(record.delivery_id, stage), signal_id=request.signal_id,
            tenant_id=request.tenant_id, occurred_at=record.last_attempt_at or self.clock.now(),
            endpoint_id=request.endpoint_id, delivery_id=record.delivery_id,
            source_event_id=request.source_event_id, attempt=record.attempts,
            outcome=outcome, status_code=record.last_status_code, error=record.last_error,
            next_attempt_at=record.next_attempt_at)
        await self.bus.publish_event(event, streams.message_id(record.delivery_id, stage))

    async def _park(self, request: CallbackRequested, record: DeliveryRecord,
                    reason: str) -> None:
        """Publish ``callback.parked`` and store the parked record."""
        metrics.CALLBACK_PARKED.inc()
        event = CallbackParked(
            event_id=derived_event_id(record.delivery_id, "parked"),
            signal_id=request.signal_id, tenant_id=request.tenant_id,
            occurred_at=record.ended_at or self.clock.now(), endpoint_id=request.endpoint_id,
            delivery_id=record.delivery_id, source_event_id=request.source_event_id,
            attempts=record.attempts, reason=reason)
        await self.bus.publish_event(event, streams.message_id(record.delivery_id, "parked"))
        await self.deliveries.put(record)
