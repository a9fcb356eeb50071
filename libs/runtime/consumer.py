"""The durable-consumer loop every pipeline service runs.

A message is acked only after the handler's output events are published (each
with a Nats-Msg-Id, so a redelivery re-publishes nothing new).

Batches. A lane takes every message queued at its front (up to ``batch``),
handles them one after the other, then publishes all their outputs at once
(pipelined: one socket write, the acknowledgements awaited together) and only
then acks the inputs, in one write too. A handler that fails, an output that
JetStream did not take: the messages before it are acked, and from it on the
lane goes one message at a time through the careful path below (handling again
is safe: every handler is idempotent, and a repeated output is dropped by its
message id). Outputs sent together reach the stream in order, and a cut
connection loses a suffix of them, so an account's outputs never overtake
each other.

Ordering versus not blocking. Order matters per account (close-then-open), so a
failing message is retried *in place* with backoff (``ConsumerSpec.backoff_s``),
never nak'd past: a nak would let the same account's next signal overtake it.
But only the messages of the same ordering key wait behind it. Every fetched
message goes into the lane of its key (:func:`ordering_key`: the tenant and
account tokens of the subject; the strategy for ``webhook.received``, which has
no account yet and whose strategy trades one account). Lanes run concurrently,
each in order (:mod:`libs.runtime.lanes`), so other accounts' messages go
straight past a poison message. At most ``max_in_flight`` messages are held at
once; held messages are kept ours with ``in_progress`` while they wait.

Poison messages. After ``max_deliver`` attempts the message is given up: the
service's ``on_exhausted`` (if it has one) publishes the ``webhook.failed`` that
ends the signal, the message is parked on ``deadletter.<consumer>``
(:mod:`libs.runtime.dead_letters`) and terminated. Attempts start counting
at the delivery count, so retries before a crash count too, and a delivery
beyond the limit is given up without running the handler again: a message that
kills its process cannot loop forever. Undecodable messages are parked at once.

Lingering. A consumer off the signal's critical path (the auditor) may ``linger``:
when a fetch brings less than a full batch, it waits that long and takes what came
meanwhile, so a quiet pipeline still stores, commits and acks tens of events at a
time instead of one or two (each commit and each fetch costs about as much as a
whole batch's events). It adds at most ``linger`` seconds to the event's way to the
store, nothing to the signal's.

Stopping. When ``stop`` is set the loop fetches no more; handlers that are
running finish, publish and ack; the messages queued behind them are handled
too. A message waiting to be retried is nak'd instead (with the rest of its
lane, in order), so another instance takes it at once. Whatever is not done
within ``shutdown_grace_s`` stays unacked and is redelivered after the ack wait.
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
from libs.runtime import metrics
from libs.runtime.bus import Bus, is_bus_error
from libs.runtime.clock import SystemClock
from libs.runtime.dead_letters import park
from libs.runtime.lanes import Lanes
from libs.runtime.outages import Outage
from libs.runtime.partitions.fence import NotOwner, check_tenure
from libs.runtime.restart import first_batch
from libs.runtime.timers import stopped_within

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """An event to publish, with the message id that makes its publish idempotent."""

    event: Event
    msg_id: str


@dataclass(frozen=True)
class _Handled:
    """A message its handler answered, and the outputs to publish before its ack."""

    msg: Msg
    event: Any
    outgoing: Sequence[Outgoing]


Handler = Callable[[Any], Awaitable[Sequence[Outgoing]]]
# Handles events in order, as many calls of a Handler would: their outputs, in order.
ManyHandler = Callable[[list[Any]], Awaitable[Sequence[Sequence[Outgoing]]]]
OnExhausted = Callable[[Any, str], Sequence[Outgoing]]


def ordering_key(subject: str) -> str:
    """The key within which messages are handled in order.

    Subjects are ``<domain>.<kind>.<tenant>.<account>...`` (``contracts/subjects.py``),
    so the third and fourth tokens: tenant and account (tenant and strategy for
    ``webhook.received``, the symbol for ``market.price``).
    """
    return ".".join(subject.split(".")[2:4])


class Consumer:
    """Pulls from one durable consumer; in order per account, concurrent across them."""

    def __init__(
        self,
        bus: Bus,
        spec: streams.ConsumerSpec,
        handle: Handler,
        on_exhausted: OnExhausted | None = None,
        batch: int = 32,
        decode: Callable[[bytes], Any] = decode_event,
        max_in_flight: int = 256,
        shutdown_grace_s: float = 8.0,
        handle_many: ManyHandler | None = None,
        linger: float = 0.0,
    ) -> None:
        self.bus = bus
        self.spec = spec
        self.handle = handle
        self.handle_many = handle_many
        self.on_exhausted = on_exhausted
        self.batch = batch
        self.linger = linger
        self.decode = decode
        self.shutdown_grace_s = shutdown_grace_s
        self._resubscribe = asyncio.Event()
        self._clock = SystemClock()
        self._stop = asyncio.Event()
        self._lanes: Lanes[Msg] = Lanes(self._process, self._give_back, max_in_flight,
                                        work_many=self._process_many, max_batch=batch)
        self.idle = asyncio.Event()

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
        """Consume until ``stop`` is set, then finish (or give back) what is in hand."""
        self._stop = stop
        # NATS may be cut (or slow) right as the service starts: retry until it
        # answers, never let its TimeoutError end the service (its connection comes
        # back by itself; one closed for good ends this run on its own).
        sub: JetStreamContext.PullSubscription | None = await self._subscribe_when_possible()
        if sub is None:
            return
        try:
            first = await first_batch(self.bus, self.spec, sub, stop)
        except Exception as exc:
            if not is_bus_error(exc):
                raise
            # Anything fetched and not handled is redelivered after the ack wait.
            log.warning("%s: first fetch failed (%r); fetching as usual",
                        self.spec.durable, exc)
            first = []
        await self.process_batch(first)
        keep_alive = asyncio.create_task(self._keep_alive())
        try:
            while sub is not None and not stop.is_set():
                await self._lanes.wait_for_room(stop)
                if stop.is_set():
                    break
                if self._resubscribe.is_set():
                    self._resubscribe.clear()
                    sub = await self._resubscribe_safely(sub)
                    continue
                want = min(self.batch, self._lanes.free)
                try:
                    msgs = await sub.fetch(want, timeout=1.0)
                    if self.linger and len(msgs) < want and \
                            not await stopped_within(stop, self.linger):
                        msgs += await self._more(sub, want - len(msgs))
                except (TimeoutError, nats.errors.TimeoutError):
                    self.idle.set()
                    continue
                except Exception as exc:  # connection trouble: back off and rebuild
                    log.warning("%s fetch failed: %r", self.spec.durable, exc)
                    if await stopped_within(stop, 0.5):
                        break
                    sub = await self._resubscribe_safely(sub)
                    continue
                self.idle.clear()
                # Fetched after stop was set too: these are in hand, so handle them.
                await self.process_batch(msgs)
            if not await self._lanes.join(self.shutdown_grace_s):
                log.warning("%s stopped with messages unfinished; they will be redelivered",
                            self.spec.durable)
        finally:
            keep_alive.cancel()
            if sub is not None:
                with contextlib.suppress(Exception):  # closing anyway
                    await sub.unsubscribe()

    async def _more(self, sub: JetStreamContext.PullSubscription, wanted: int) -> list[Msg]:
        """What came in while lingering, up to ``wanted``; nothing if nothing did (the
        server answers a pull at once when it holds messages)."""
        try:
            return await sub.fetch(wanted, timeout=0.005)
        except Exception:  # nothing came, or trouble the next fetch meets: handle these
            return []

    async def process_batch(self, msgs: list[Msg]) -> None:
        """Queue fetched messages on their lanes; returns before they are handled."""
        for msg in msgs:
            self._lanes.put(ordering_key(msg.subject), msg)

    async def _subscribe_when_possible(self) -> JetStreamContext.PullSubscription | None:
        """The first subscription, retried while NATS fails; None if ``stop`` came
        first. An error that is not NATS's own still ends the service."""
        while True:
            try:
                return await self._subscribe()
            except Exception as exc:
                if not is_bus_error(exc):
                    raise
                log.warning("%s subscribe failed: %r; retrying", self.spec.durable, exc)
                if await stopped_within(self._stop, 1.0):
                    return None

    async def _resubscribe_safely(
        self, sub: JetStreamContext.PullSubscription
    ) -> JetStreamContext.PullSubscription | None:
        """A fresh subscription, or None if ``stop`` was set while NATS was away."""
        while True:
            with contextlib.suppress(Exception):  # the old subscription may be gone
                await sub.unsubscribe()
            try:
                return await self._subscribe()
            except Exception as exc:
                log.warning("%s resubscribe failed: %r", self.spec.durable, exc)
                if await stopped_within(self._stop, 1.0):
                    return None

    async def _keep_alive(self) -> None:
        """Tell JetStream every held message is still being worked on, so a message
        waiting behind a retry (or a slow handler) is not redelivered elsewhere."""
        interval = max(self.spec.ack_wait_s / 3, 0.1)
        while True:
            await asyncio.sleep(interval)
            for msg in self._lanes.held():
                with contextlib.suppress(Exception):  # acked meanwhile, or disconnected
                    await msg.in_progress()

    async def _process_many(self, msgs: list[Msg]) -> int:
        """Work through the front of a lane, in order: runs of messages handled
        without error are published and acked together; anything else takes the
        careful path. How many were finished (fewer: the next was given back)."""
        done = 0
        while done < len(msgs):
            handled, failure = await self._handle_front(msgs[done:])
            committed = await self._commit(handled)
            done += committed
            if committed < len(handled):
                failure = None  # its output was not taken: start it afresh
            if done < len(msgs):
                if not await self._process(msgs[done], failure):
                    return done
                done += 1
        return done

    async def _handle_front(self, msgs: list[Msg]
                            ) -> tuple[list[_Handled], Exception | None]:
        """Handle messages from the front on their first try here, up to the first
        that needs the careful path (undecodable, past its attempts, its handler
        failed): those handled, and the error of the one whose handler failed.

        With ``handle_many`` they are handled in one call; if it fails, none is
        (no error is given: the first goes the careful way, the rest follow)."""
        handled: list[_Handled] = []
        events: list[Any] = []
        try:
            check_tenure()  # a partition's lease lapsed: its next owner handles these
        except NotOwner as exc:
            return handled, exc
        for msg in msgs:
            try:
                event = self.decode(msg.data)
            except msgspec.DecodeError:
                break
            if 0 < self.spec.max_deliver < msg.metadata.num_delivered:
                break
            if self.handle_many is not None:
                events.append(event)
                continue
            try:
                handled.append(_Handled(msg, event, await self.handle(event)))
            except Exception as exc:
                return handled, exc
        if not events or self.handle_many is None:
            return handled, None
        try:
            answered = list(zip(events, await self.handle_many(events), strict=True))
        except Exception as exc:
            _log_failure(exc, "%s failed on a batch of %d; one at a time",
                         self.spec.durable, len(events))
            return [], None
        return [_Handled(msg, event, outgoing)
                for msg, (event, outgoing) in zip(msgs, answered, strict=False)], None

    async def _commit(self, handled: list[_Handled]) -> int:
        """Publish the outputs of ``handled`` together, then ack the messages whose
        outputs (and those of every message before them) JetStream took; how many."""
        if not handled:
            return 0
        owners = [n for n, item in enumerate(handled) for _ in item.outgoing]
        results = await self.bus.publish_all(
            [(out.event, out.msg_id) for item in handled for out in item.outgoing])
        committed = len(handled)
        for owner, error in zip(owners, results, strict=True):
            if error is not None:
                committed = owner
                metrics.HANDLER_ERRORS.labels(self.spec.durable).inc()
                _log_failure(error, "%s could not publish the output of %s", self.spec.durable,
                             _describe(handled[owner].event))
                break
        for item in handled[:committed]:
            for out in item.outgoing:
                metrics.EVENTS_PUBLISHED.labels(event_type(out.event)).inc()
            await self._ack(item.msg, item.event)
        return committed

    async def _process(self, msg: Msg, failed: Exception | None = None) -> bool:
        """Handle one message with retries; False if it was given back (stopping
        mid-retry). ``failed``: its handler already failed once, just now."""
        durable = self.spec.durable
        try:
            event = self.decode(msg.data)
        except msgspec.DecodeError as exc:
            await self.dead_letter(msg, f"undecodable: {exc}")
            return True
        limit = self.spec.max_deliver
        attempt = msg.metadata.num_delivered
        if 0 < limit < attempt:
            # Earlier deliveries never finished: the process died or stopped with it
            # in hand. Do not run the handler again; it may be what kills us.
            await self._give_up(msg, event, f"delivered {attempt} times without finishing",
                                attempt)
            return True
        while True:
            try:
                if failed is not None:
                    raise failed
                check_tenure()
                outgoing = await self.handle(event)
                await self._publish(outgoing)
                break
            except Exception as exc:
                failed = None
                metrics.HANDLER_ERRORS.labels(durable).inc()
                _log_failure(exc, "%s failed on %s (attempt %d)", durable, _describe(event),
                             attempt)
                if isinstance(exc, NotOwner):
                    # Not the message's fault: never an attempt that ends the signal.
                    # The partition's consumers are being stopped; give it back then.
                    if not await self._wait_to_retry(1):
                        await self._give_back(msg)
                        return False
                    continue
                if 0 < limit <= attempt:
                    await self._give_up(msg, event, f"{type(exc).__name__}: {exc}", attempt)
                    return True
                metrics.EVENTS_HANDLED.labels(durable, "retry").inc()
                if not await self._wait_to_retry(attempt):
                    await self._give_back(msg)
                    return False
                attempt += 1
        await self._ack(msg, event)
        return True

    async def _ack(self, msg: Msg, event: Any) -> None:
        """Ack a message whose outputs are published (a fire-and-forget write)."""
        try:
            await msg.ack()
        except Exception as exc:  # redelivered later; the outputs are already published
            log.warning("%s could not ack: %r", self.spec.durable, exc)
        metrics.EVENTS_HANDLED.labels(self.spec.durable, "ok").inc()
        occurred = getattr(event, "occurred_at", None)
        if occurred is not None:
            elapsed = (self._clock.now() - occurred).total_seconds()
            metrics.STAGE_LATENCY.labels(self.spec.stage).observe(max(elapsed, 0.0))

    async def _wait_to_retry(self, attempt: int) -> bool:
        """Sleep the backoff for ``attempt``; False if ``stop`` came first."""
        backoff = self.spec.backoff_s[min(attempt - 1, len(self.spec.backoff_s) - 1)]
        gauge = metrics.RETRYING.labels(self.spec.durable)
        gauge.inc()
        try:
            return not await stopped_within(self._stop, backoff)
        finally:
            gauge.dec()

    async def _give_back(self, msg: Msg) -> None:
        """Nak without delay: another instance (or this one, restarted) takes it now."""
        try:
            await msg.nak()
        except Exception as exc:  # left unacked: redelivered after the ack wait
            log.warning("%s could not nak: %r", self.spec.durable, exc)

    async def _publish(self, outgoing: Sequence[Outgoing]) -> None:
        for item in outgoing:
            await self.bus.publish_event(item.event, item.msg_id)
            metrics.EVENTS_PUBLISHED.labels(event_type(item.event)).inc()

    async def _give_up(self, msg: Msg, event: Any, reason: str, deliveries: int) -> None:
        """Out of attempts: end the signal with its failure event, park the message."""
        if self.on_exhausted is not None and isinstance(event, Event):
            try:
                await self._publish(self.on_exhausted(event, reason))
            except Exception as exc:
                _log_failure(exc, "%s could not publish the give-up event", self.spec.durable)
                await self._nak_later(msg)
                return
        if await self.dead_letter(msg, reason, deliveries):
            metrics.EVENTS_HANDLED.labels(self.spec.durable, "exhausted").inc()

    async def dead_letter(self, msg: Msg, reason: str, deliveries: int | None = None) -> bool:
        """Park an unusable message on ``deadletter.<consumer>`` and drop it from the
        consumer; False (and redelivered later) if NATS did not take it."""
        durable = self.spec.durable
        count = msg.metadata.num_delivered if deliveries is None else deliveries
        try:
            await park(self.bus, msg, durable, reason, count)
        except Exception as exc:
            _log_failure(exc, "%s could not park a dead letter", durable)
            await self._nak_later(msg)
            return False
        metrics.DEAD_LETTERS.labels(durable).inc()
        log.error("%s parked stream seq %d on the dead-letter subject after %d attempt(s): %s",
                  durable, msg.metadata.sequence.stream, count, reason)
        with contextlib.suppress(Exception):  # parked already; a redelivery parks it again
            await msg.term()
        return True

    async def _nak_later(self, msg: Msg) -> None:
        with contextlib.suppress(Exception):
            await msg.nak(delay=self.spec.backoff_s[-1])


def _log_failure(exc: BaseException, message: str, *args: object) -> None:
    """Log a failure that will be retried: NATS itself away (restarting, unreachable,
    the connection closed) or another :class:`Outage` (a broker away) is expected, a
    warning; anything else is a bug, with its traceback."""
    if is_bus_error(exc):
        log.warning(message + ", the event bus is unavailable (%r); will retry", *args, exc)
    elif isinstance(exc, Outage):
        log.warning(message + ", %s (%s); will retry", *args, type(exc).__name__, exc)
    elif isinstance(exc, NotOwner):  # a partition moving on: its next owner handles it
        log.warning(message + ", no longer the partition's owner (%s)", *args, exc)
    else:
        log.error(message + "; will retry", *args, exc_info=exc)


def _describe(message: Any) -> str:
    return event_type(message) if isinstance(message, Event) else type(message).__name__
