"""The consumer loop on a real nats-server: retries, give-up, dead letters, no doubles."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime

import nats.errors
import nats.js.errors
import pytest
from harness import EventTap

from contracts import streams
from contracts.events import AnyEvent, TenantCreated, WebhookFailed
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from libs.runtime.consumer import Consumer, Outgoing
from libs.runtime.failures import exhausted, failure

SPEC = streams.ConsumerSpec("probe", ("registry.>",), "validate", max_deliver=3,
                            backoff_s=(0.05,))


def tenant_event(n: int) -> TenantCreated:
    return TenantCreated(event_id=f"e{n}", signal_id=f"s{n}", tenant_id="t",
                         occurred_at=datetime.now(UTC), name=f"tenant {n}")


async def run_until(consumer: Consumer, done: asyncio.Event | Awaitable[object]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.wait_for(done.wait() if isinstance(done, asyncio.Event) else done,
                               timeout=20)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def test_handler_error_is_retried_then_succeeds(bus: Bus) -> None:
    attempts: list[str] = []
    done = asyncio.Event()

    async def flaky(event: AnyEvent) -> list[Outgoing]:
        attempts.append(event.event_id)
        if len(attempts) < 3:
            raise RuntimeError("broker hiccup")
        done.set()
        return []

    await bus.publish_event(tenant_event(1), "m1")
    await run_until(Consumer(bus, SPEC, flaky), done)
    assert attempts == ["e1", "e1", "e1"]


async def test_giving_up_ends_the_signal_and_unblocks_the_queue(bus: Bus,
                                                                tap: EventTap) -> None:
    handled: list[str] = []
    attempts_on_first = 0
    clock = SystemClock()

    async def broken_for_first(event: AnyEvent) -> list[Outgoing]:
        nonlocal attempts_on_first
        if event.event_id == "e1":
            attempts_on_first += 1
            raise ValueError("cannot handle this one")
        handled.append(event.event_id)
        return []

    await bus.publish_event(tenant_event(1), "m1")
    await bus.publish_event(tenant_event(2), "m2")
    gave_up = tap.wait_for(lambda evs: [e for e in evs if isinstance(e, WebhookFailed)])
    await run_until(Consumer(bus, SPEC, broken_for_first, exhausted("validate", clock)),
                    gave_up)
    failed = [e for e in tap.events if isinstance(e, WebhookFailed)]
    assert attempts_on_first == SPEC.max_deliver
    assert handled == ["e2"]  # the failing message did not block the one behind it
    assert len(failed) == 1
    assert (failed[0].signal_id, failed[0].stage, failed[0].code) == (
        "s1", "validate", "internal_error")
    assert "cannot handle this one" in failed[0].reason


async def test_undecodable_message_goes_to_the_dead_letter_subject(bus: Bus,
                                                                   tap: EventTap) -> None:
    done = asyncio.Event()
    seen: list[str] = []

    async def record(event: AnyEvent) -> list[Outgoing]:
        seen.append(event.event_id)
        done.set()
        return []

    tap.expect_undecodable(b"\x00not json")
    await bus.js.publish("registry.garbage.t", b"\x00not json", stream=streams.STREAM)
    await bus.publish_event(tenant_event(3), "m3")
    await run_until(Consumer(bus, SPEC, record), done)
    parked = await tap.wait_for(
        lambda _: [r for r in tap.raw if r[0] == "deadletter.probe"])
    assert parked[0][1] == b"\x00not json"
    assert seen == ["e3"]


async def test_redelivered_message_publishes_no_second_event(bus: Bus, tap: EventTap) -> None:
    calls = 0
    done = asyncio.Event()
    clock = SystemClock()

    async def publish_then_crash_once(event: AnyEvent) -> list[Outgoing]:
        nonlocal calls
        calls += 1
        out = failure(event, "validate", "demo", "demo refusal", clock)
        if calls == 1:
            # Output published, then the process "dies" before acking.
            await bus.publish_event(out.event, out.msg_id)
            raise RuntimeError("crash after publish")
        done.set()
        return [out]

    await bus.publish_event(tenant_event(4), "m4")
    await run_until(Consumer(bus, SPEC, publish_then_crash_once), done)
    # A later marker proves every publish of the handler has reached the stream.
    await bus.publish_event(tenant_event(5), "m5")
    await tap.wait_for(lambda evs: any(e.event_id == "e5" for e in evs))
    assert calls == 2
    assert len([e for e in tap.events if isinstance(e, WebhookFailed)]) == 1


async def test_a_retried_message_is_not_overtaken_by_the_next(bus: Bus) -> None:
    handled: list[str] = []
    failures = {"e6": 2}
    done = asyncio.Event()

    async def flaky_first(event: AnyEvent) -> list[Outgoing]:
        if failures.get(event.event_id, 0) > 0:
            failures[event.event_id] -= 1
            raise RuntimeError("transient")
        handled.append(event.event_id)
        if len(handled) == 2:
            done.set()
        return []

    # Close-then-open for one account: the open must never run before the close.
    await bus.publish_event(tenant_event(6), "m6")
    await bus.publish_event(tenant_event(7), "m7")
    await run_until(Consumer(bus, SPEC, flaky_first), done)
    assert handled == ["e6", "e7"]


@pytest.mark.parametrize(("error", "traceback"), [
    (nats.errors.TimeoutError(), False),  # NATS away: an expected outage, a warning
    (KeyError("bug"), True),  # anything else is a bug: with its traceback
])
async def test_a_failure_of_nats_itself_is_logged_without_a_traceback(
        bus: Bus, error: Exception, traceback: bool,
        caplog: pytest.LogCaptureFixture) -> None:
    failures = [error]
    done = asyncio.Event()

    async def once_failing(event: AnyEvent) -> list[Outgoing]:
        if failures:
            raise failures.pop()
        done.set()
        return []

    await bus.publish_event(tenant_event(1), "m1")
    with caplog.at_level(logging.WARNING, logger="libs.runtime.consumer"):
        await run_until(Consumer(bus, SPEC, once_failing), done)
    (record,) = [r for r in caplog.records if "failed on" in r.getMessage()]
    assert (record.exc_info is not None) is traceback
    assert record.levelno == (logging.ERROR if traceback else logging.WARNING)


@pytest.mark.parametrize("many", [False, True], ids=["one-by-one", "handle-many"])
async def test_a_lanes_messages_are_handled_and_published_together_in_order(
        bus: Bus, tap: EventTap, many: bool) -> None:
    clock = SystemClock()
    batches: list[int] = []

    async def answer(event: AnyEvent) -> list[Outgoing]:
        return [failure(event, "validate", "demo", event.event_id, clock)]

    async def answer_all(events: list[AnyEvent]) -> list[list[Outgoing]]:
        batches.append(len(events))
        return [await answer(event) for event in events]

    for n in range(6):  # one lane (one tenant), all there before the consumer starts
        await bus.publish_event(tenant_event(n), f"m{n}")
    consumer = Consumer(bus, SPEC, answer, handle_many=answer_all if many else None)
    await run_until(consumer, tap.wait_for(lambda evs: len(
        [e for e in evs if isinstance(e, WebhookFailed)]) == 6))
    outputs = [e.reason for e in tap.events if isinstance(e, WebhookFailed)]
    assert outputs == [f"e{n}" for n in range(6)]  # in order, each once
    info = await bus.js.consumer_info(SPEC.stream, SPEC.durable)
    assert info.num_ack_pending == 0 and info.num_pending == 0  # every input acked
    if many:
        assert max(batches) > 1


async def test_a_failing_batch_is_handled_one_message_at_a_time(bus: Bus) -> None:
    handled: list[str] = []
    singles: list[str] = []
    failed = [False]
    done = asyncio.Event()

    async def one(event: AnyEvent) -> list[Outgoing]:
        singles.append(event.event_id)
        handled.append(event.event_id)
        return []

    async def many(events: list[AnyEvent]) -> list[list[Outgoing]]:
        if not failed[0]:
            failed[0] = True
            raise RuntimeError("a batch went wrong")
        handled.extend(e.event_id for e in events)
        if len(handled) >= 4:
            done.set()
        return [[] for _ in events]

    for n in range(4):
        await bus.publish_event(tenant_event(n), f"m{n}")
    await run_until(Consumer(bus, SPEC, one, handle_many=many), done)
    assert handled == ["e0", "e1", "e2", "e3"]  # the first alone, in order
    assert singles == ["e0"]


async def test_an_idle_consumer_hands_a_message_over_at_once(bus: Bus) -> None:
    """The loop's fetch asks for a batch with a 1 s timeout; a message that arrives
    while it waits must be handled then, not when the batch is full or the timeout
    ran out (nats-py's first pull is no_wait: the server answers it as soon as it
    delivered something). Five messages, one at a time, each after the previous
    one was handled: with a fetch that held on, each would wait ~1 s."""
    handled: dict[str, float] = {}
    arrived = asyncio.Event()

    async def note(event: AnyEvent) -> list[Outgoing]:
        handled[event.event_id] = asyncio.get_running_loop().time()
        arrived.set()
        return []

    stop = asyncio.Event()
    consumer = Consumer(bus, SPEC, note)
    task = asyncio.create_task(consumer.run(stop))
    waits: list[float] = []
    try:
        for n in range(5):
            await asyncio.sleep(0.3)  # the consumer is waiting in a fetch by now
            arrived.clear()
            sent = asyncio.get_running_loop().time()
            await bus.publish_event(tenant_event(n), f"m{n}")
            await asyncio.wait_for(arrived.wait(), timeout=10)
            waits.append(handled[f"e{n}"] - sent)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert sorted(waits)[2] < 0.5, waits  # the median: robust to a busy machine


async def delivered(bus: Bus, count: int) -> bool:
    """Has the probe consumer been handed ``count`` messages (it may not exist yet)?"""
    try:
        info = await bus.js.consumer_info(SPEC.stream, SPEC.durable)
    except nats.js.errors.NotFoundError:
        return False
    return info.delivered.consumer_seq >= count


async def test_a_lingering_consumer_handles_what_came_while_it_waited_in_one_batch(
        bus: Bus) -> None:
    """With ``linger``, a fetch that brought less than a batch waits that long and
    takes what came meanwhile: the first message and the four published after it
    was fetched are handled together (without lingering the first goes alone)."""
    batches: list[list[str]] = []
    done = asyncio.Event()

    async def one(event: AnyEvent) -> list[Outgoing]:
        return (await many([event]))[0]

    async def many(events: list[AnyEvent]) -> list[list[Outgoing]]:
        batches.append([e.event_id for e in events])
        if sum(len(b) for b in batches) == 5:
            done.set()
        return [[] for _ in events]

    stop = asyncio.Event()
    consumer = Consumer(bus, SPEC, one, handle_many=many, linger=1.0)
    task = asyncio.create_task(consumer.run(stop))
    try:
        await bus.publish_event(tenant_event(0), "m0")
        while not await delivered(bus, 1):
            await asyncio.sleep(0.01)  # polling the server: fetched (now lingering)
        for n in range(1, 5):
            await bus.publish_event(tenant_event(n), f"m{n}")
        await asyncio.wait_for(done.wait(), timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert batches == [["e0", "e1", "e2", "e3", "e4"]]
