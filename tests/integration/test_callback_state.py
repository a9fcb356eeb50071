"""The dispatcher's durable state on a real NATS: a delivery's record is claimed once
per request message (a repeat of the request is told apart), and concurrent parked
deliveries count exactly: one failing mark, one disabling, mirrored on the record."""

from __future__ import annotations

import asyncio

from harness import EventTap, master_box

from contracts import streams
from contracts.events import (
    CALLBACK_EVENT_TYPES,
    CallbackEndpointDisabled,
    CallbackEndpointFailing,
    CallbackEndpointRecovered,
)
from libs.callbacks.deliveries import DeliveryLog
from libs.callbacks.marks import read_marks, reset_marks
from libs.registry.models import CallbackEndpoint
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from services.dispatcher.fanout import requests_for
from services.dispatcher.health import HealthBook
from services.dispatcher.machine import RetryPolicy
from tests.factories import NOW, TENANT_ID, make_failed


def _endpoint() -> CallbackEndpoint:
    return CallbackEndpoint(id="cb-state", tenant_id=TENANT_ID,
                            url="https://hooks.example.com/x", secret="whsec_x",
                            event_types=list(CALLBACK_EVENT_TYPES))


async def test_a_record_is_claimed_once_per_request_message(bus: Bus) -> None:
    log = DeliveryLog(await bus.kv(streams.BUCKET_CALLBACK_DELIVERIES))
    request = requests_for(make_failed(), [_endpoint()], NOW)[0].event
    first = await log.claim(request, seq=41)  # type: ignore[arg-type]
    assert first is not None and first.status == "pending" and first.request_seq == 41
    # The same message again (a crash before its ack): the same record.
    assert await log.claim(request, seq=41) == first  # type: ignore[arg-type]
    # The same request published again after the duplicate window: a repeat.
    assert await log.claim(request, seq=97) is None  # type: ignore[arg-type]
    # Delivered again (a retry): the record is read first, with the same answers.
    assert await log.claim(request, seq=41, redelivered=True) == first  # type: ignore[arg-type]
    assert await log.claim(request, seq=97, redelivered=True) is None  # type: ignore[arg-type]
    other = requests_for(make_failed(event_id="evt-other"), [_endpoint()], NOW)[0].event
    made = await log.claim(other, seq=42, redelivered=True)  # type: ignore[arg-type]
    assert made is not None and made.request_seq == 42  # crashed before it was made
    assert sorted(r.delivery_id for r in await log.of_endpoint("cb-state")) == \
        sorted([first.delivery_id, made.delivery_id])
    assert await log.get("cb-state", "dlv-nope") is None
    assert await log.get("bad id!", first.delivery_id) is None


async def test_concurrent_parks_mark_failing_once_and_disable_once(bus: Bus,
                                                                   tap: EventTap) -> None:
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    await registry.put(_endpoint())
    kv = await bus.kv(streams.BUCKET_CALLBACK_HEALTH)
    book = HealthBook(bus, registry, kv, SystemClock(), RetryPolicy(disable_after=3))
    changes = await asyncio.gather(*(book.ended("cb-state", delivered=False, reason="down")
                                     for _ in range(5)))
    flat = sorted(c for found in changes for c in found)
    assert flat == ["disabled", "failing"]
    marks, _ = await read_marks(kv, "cb-state")
    assert (marks.streak, marks.failing, marks.disabled) == (5, True, True)
    stored = await registry.callback("cb-state")
    assert stored is not None and (stored.failing, stored.enabled) == (True, False)
    assert stored.disabled_reason == "down"
    await tap.wait_for(lambda events: any(isinstance(e, CallbackEndpointDisabled)
                                          for e in events))
    assert len([e for e in tap.events if isinstance(e, CallbackEndpointFailing)]) == 1

    # An operator switches it on (the API clears the marks); a success is news only
    # when it was failing again.
    await reset_marks(kv, "cb-state")
    await registry.put(stored.model_copy(update={"enabled": True, "failing": False}))
    assert await book.ended("cb-state", delivered=True) == []
    assert await book.ended("cb-state", delivered=False, reason="x") == ["failing"]
    assert await book.ended("cb-state", delivered=True) == ["recovered"]
    await tap.wait_for(lambda events: any(isinstance(e, CallbackEndpointRecovered)
                                          for e in events))
    final = await registry.callback("cb-state")
    assert final is not None and (final.failing, final.enabled) == (False, True)
