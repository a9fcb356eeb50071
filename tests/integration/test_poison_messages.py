"""Poison messages on a real nats-server: bounded retries, a dead letter with its
provenance, one webhook.failed, metrics — and other accounts are never held up."""

from __future__ import annotations

import asyncio
from typing import Any

from factories import make_order_requested, make_validated
from harness import EventTap
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import REGISTRY

from contracts import streams
from contracts.events import AnyEvent, WebhookFailed, encode_event, event_type
from contracts.subjects import dead_letter_subject, subject_for
from libs.runtime import dead_letters
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from libs.runtime.consumer import Consumer, Outgoing
from libs.runtime.failures import exhausted
from libs.runtime.metrics import render_metrics


def spec(name: str, **overrides: Any) -> streams.ConsumerSpec:
    """A consumer of webhook.validated with short, countable retries."""
    fields: dict[str, Any] = {"max_deliver": 4, "backoff_s": (0.5,)}
    return streams.ConsumerSpec(name, ("webhook.validated.>",), "risk", **{**fields, **overrides})


def validated(signal_id: str, account_id: str) -> AnyEvent:
    return make_validated(event_id=f"in-{signal_id}", signal_id=signal_id, account_id=account_id)


def output_of(event: AnyEvent) -> Outgoing:
    """What the handler publishes for a message it handled: its order request."""
    out = make_order_requested(event_id=f"out-{event.signal_id}", signal_id=event.signal_id,
                               account_id=event.account_id)
    return Outgoing(out, streams.message_id(event.signal_id, "risk"))


def metric(name: str, consumer: str) -> float:
    return REGISTRY.get_sample_value(name, {"consumer": consumer}) or 0.0


class Running:
    """A consumer running in the background until the block ends (then stopped)."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.consumer.run(self.stop))
        return self

    async def __aexit__(self, *_: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, timeout=10)


def index_of(tap: EventTap, event_id: str) -> int:
    return next(i for i, e in enumerate(tap.events) if e.event_id == event_id)


async def test_poison_message_is_parked_once_and_other_accounts_pass_it(
        bus: Bus, tap: EventTap) -> None:
    probe = spec("poison_probe")
    attempts: list[str] = []
    handled: list[tuple[str, int]] = []  # (signal, poison attempts so far)

    async def handle(event: AnyEvent) -> list[Outgoing]:
        attempts.append(event.signal_id)
        if event.signal_id == "poison":
            raise ValueError("cannot size this signal")
        handled.append((event.signal_id, attempts.count("poison")))
        return [output_of(event)]

    ack = await bus.js.publish(subject_for(validated("poison", "acct-a")),
                               encode_event(validated("poison", "acct-a")), stream=streams.STREAM,
                               headers={"Nats-Msg-Id": "in-poison"})
    # Right behind it: another account's signal, and the poisoned account's next one.
    await bus.publish_event(validated("other-account", "acct-b"), "in-other-account")
    await bus.publish_event(validated("same-account", "acct-a"), "in-same-account")

    consumer = Consumer(bus, probe, handle, exhausted("risk", SystemClock()))
    async with Running(consumer):
        await tap.wait_for(lambda evs: any(e.event_id == "out-same-account" for e in evs))

    # Bounded: exactly max_deliver attempts, then given up.
    assert attempts.count("poison") == probe.max_deliver
    # The other account did not wait for the poison's retries to finish ...
    other_at = dict(handled)["other-account"]
    assert other_at < probe.max_deliver
    failed = [e for e in tap.events if isinstance(e, WebhookFailed)]
    assert [(f.signal_id, f.stage, f.code) for f in failed] == [
        ("poison", "risk", "internal_error")]
    assert "cannot size this signal" in failed[0].reason
    assert index_of(tap, "out-other-account") < index_of(tap, failed[0].event_id)
    # ... while the poisoned account's next signal kept its place behind it.
    assert index_of(tap, failed[0].event_id) < index_of(tap, "out-same-account")
    assert [s for s, _ in handled] == ["other-account", "same-account"]

    parked = await bus.js.get_last_msg(streams.STREAM, dead_letter_subject("poison_probe"))
    assert parked.data == encode_event(validated("poison", "acct-a"))
    headers = parked.headers or {}
    assert headers[dead_letters.ORIGINAL_SUBJECT] == subject_for(validated("poison", "acct-a"))
    assert headers[dead_letters.ORIGINAL_STREAM] == streams.STREAM
    assert headers[dead_letters.STREAM_SEQ] == str(ack.seq)
    assert headers[dead_letters.CONSUMER] == "poison_probe"
    assert headers[dead_letters.DELIVERIES] == str(probe.max_deliver)
    assert "ValueError: cannot size this signal" in headers[dead_letters.REASON]
    assert len([s for s, _ in tap.raw if s == dead_letter_subject("poison_probe")]) == 1

    assert metric("tradehooks_dead_letters_total", "poison_probe") == 1
    assert metric("tradehooks_handler_errors_total", "poison_probe") == probe.max_deliver
    assert metric("tradehooks_messages_retrying", "poison_probe") == 0
    body, _ = render_metrics()
    assert b'tradehooks_dead_letters_total{consumer="poison_probe"} 1.0' in body


async def test_retries_keep_order_within_an_account_but_not_across(bus: Bus) -> None:
    failures = {"a1": 2}
    handled: list[str] = []
    done = asyncio.Event()

    async def flaky_first(event: AnyEvent) -> list[Outgoing]:
        if failures.get(event.signal_id, 0) > 0:
            failures[event.signal_id] -= 1
            raise RuntimeError("transient")
        handled.append(event.signal_id)
        if len(handled) == 4:
            done.set()
        return []

    # Close-then-open on account A, interleaved with account B's signals.
    for signal_id, account in (("a1", "acct-a"), ("b1", "acct-b"), ("a2", "acct-a"),
                               ("b2", "acct-b")):
        await bus.publish_event(validated(signal_id, account), f"in-{signal_id}")
    async with Running(Consumer(bus, spec("order_probe", backoff_s=(0.3,)), flaky_first)):
        await asyncio.wait_for(done.wait(), timeout=20)
    assert [s for s in handled if s.startswith("a")] == ["a1", "a2"]
    assert [s for s in handled if s.startswith("b")] == ["b1", "b2"]
    assert handled[:2] == ["b1", "b2"]  # B was not held up by A's retries


async def test_a_message_redelivered_past_the_limit_is_given_up_without_running_it(
        bus: Bus, tap: EventTap) -> None:
    """A message that kills its process each time must not loop forever."""
    probe = spec("crash_probe")
    await bus.publish_event(validated("crasher", "acct-c"), "in-crasher")
    # Earlier "processes" took it and died with it in hand: nak'd max_deliver times.
    await bus.js.add_consumer(streams.STREAM, ConsumerConfig(
        name="crash_probe", durable_name="crash_probe", filter_subject="webhook.validated.>",
        ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
        ack_wait=probe.ack_wait_s, max_deliver=-1, max_ack_pending=1000))
    sub = await bus.js.pull_subscribe_bind(durable="crash_probe", stream=streams.STREAM)
    for delivery in range(1, probe.max_deliver + 1):
        [msg] = await sub.fetch(1, timeout=5)
        assert msg.metadata.num_delivered == delivery
        await msg.nak()
    await sub.unsubscribe()

    calls: list[str] = []

    async def would_crash(event: AnyEvent) -> list[Outgoing]:
        calls.append(event.signal_id)
        raise RuntimeError("would have killed the process")

    async with Running(Consumer(bus, probe, would_crash, exhausted("risk", SystemClock()))):
        failed = await tap.wait_for(lambda evs: [e for e in evs if event_type(e) ==
                                                 "webhook.failed"])
        parked = await tap.wait_for(lambda _: [s for s, _ in tap.raw
                                               if s == dead_letter_subject("crash_probe")])
    assert calls == []
    assert failed[0].signal_id == "crasher"
    assert "delivered 5 times without finishing" in failed[0].reason
    assert len(parked) == 1
    last = await bus.js.get_last_msg(streams.STREAM, dead_letter_subject("crash_probe"))
    assert (last.headers or {})[dead_letters.DELIVERIES] == str(probe.max_deliver + 1)


async def test_stopping_gives_back_a_message_waiting_to_retry_and_finishes_the_rest(
        bus: Bus, tap: EventTap) -> None:
    probe = spec("stop_probe", backoff_s=(30.0,))  # a retry that would outlast any stop
    first_attempt = asyncio.Event()
    deliveries: list[int] = []

    async def handle(event: AnyEvent) -> list[Outgoing]:
        if event.signal_id == "stuck":
            first_attempt.set()
            raise RuntimeError("broker down")
        return [output_of(event)]

    await bus.publish_event(validated("stuck", "acct-a"), "in-stuck")
    await bus.publish_event(validated("behind", "acct-a"), "in-behind")
    await bus.publish_event(validated("elsewhere", "acct-b"), "in-elsewhere")
    loop = asyncio.get_running_loop()
    running = Running(Consumer(bus, probe, handle))
    async with running:
        await asyncio.wait_for(first_attempt.wait(), timeout=10)
        await tap.wait_for(lambda evs: any(e.event_id == "out-elsewhere" for e in evs))
        stopping_at = loop.time()
    assert loop.time() - stopping_at < 5  # did not sit out the 30 s backoff
    assert not [e for e in tap.events if e.event_id == "out-behind"]

    # Given back at once, in order: the next instance takes both without an ack wait.
    async def recovered(event: AnyEvent) -> list[Outgoing]:
        deliveries.append(1)
        return [output_of(event)]

    async with Running(Consumer(bus, probe, recovered)):
        await tap.wait_for(lambda evs: any(e.event_id == "out-behind" for e in evs),
                           timeout=probe.ack_wait_s / 2)
    assert index_of(tap, "out-stuck") < index_of(tap, "out-behind")
    assert len(deliveries) == 2
