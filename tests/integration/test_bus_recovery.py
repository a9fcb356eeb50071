"""A connection the server closes for good is noticed and replaced; a dropped one heals.

nats-py closes a connection for good on most ``-ERR`` answers (see STACK-NOTES §10).
These run a real nats-server, and a proxy in front of it to deliver the faults.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from nats_proxy import NatsProxy

from contracts import streams
from contracts.events import AnyEvent, TenantCreated
from libs.runtime.bus import Bus, connect
from libs.runtime.config import Settings
from libs.runtime.consumer import Consumer, Outgoing
from libs.runtime.embedded_nats import EmbeddedNats
from libs.runtime.service import Runnable, run_consumers

SPEC = streams.ConsumerSpec("recovery_probe", ("registry.>",), "validate")


@pytest.fixture
async def proxy(nats_server: EmbeddedNats) -> AsyncIterator[NatsProxy]:
    front = NatsProxy(nats_server.port)
    await front.start()
    yield front
    await front.stop()


def tenant_event(n: int) -> TenantCreated:
    return TenantCreated(event_id=f"e{n}", signal_id=f"s{n}", tenant_id="t",
                         occurred_at=datetime.now(UTC), name=f"tenant {n}")


async def test_a_server_err_closes_the_connection_for_good_and_it_is_noticed(
        nats_server: EmbeddedNats) -> None:
    # The real thing: a subject over the server's 4 KiB control-line limit.
    bus = await connect(nats_server.url, name="victim")
    await bus.nc.publish("x." + "a" * 5000, b"")
    await asyncio.wait_for(bus.wait_lost(), 10)
    assert bus.closed_for_good and bus.nc.is_closed


async def test_our_own_close_is_not_a_loss(nats_server: EmbeddedNats) -> None:
    bus = await connect(nats_server.url, name="closing")
    await bus.close()
    assert not bus.closed_for_good and not bus.lost.is_set()


async def test_a_dropped_connection_reconnects_by_itself(proxy: NatsProxy) -> None:
    bus = await connect(proxy.url, name="dropped")
    came_back = asyncio.Event()
    bus.on_reconnected.append(came_back.set)
    try:
        assert proxy.disconnect() == 1
        await asyncio.wait_for(came_back.wait(), 10)
        assert not bus.closed_for_good
        await bus.nc.flush(timeout=2)
    finally:
        await bus.close()


async def test_a_service_starts_again_on_a_fresh_connection_after_an_err(
        proxy: NatsProxy, bus: Bus) -> None:
    """run_consumers builds everything again on a new connection, and the consumer
    goes on with the messages that came while it was away."""
    builds: list[Bus] = []
    handled: list[str] = []
    got: dict[int, asyncio.Event] = {1: asyncio.Event(), 2: asyncio.Event()}

    async def handle(event: AnyEvent) -> list[Outgoing]:
        handled.append(event.event_id)
        if len(handled) in got:
            got[len(handled)].set()
        return []

    async def build(service_bus: Bus) -> list[Runnable]:
        builds.append(service_bus)
        return [Consumer(service_bus, SPEC, handle)]

    stop = asyncio.Event()
    settings = Settings(nats_url=proxy.url)
    service = asyncio.create_task(run_consumers("probe", settings, build, stop))
    try:
        await bus.publish_event(tenant_event(1), "m1")
        await asyncio.wait_for(got[1].wait(), 20)
        assert proxy.inject_err() == 1
        await asyncio.wait_for(builds[0].wait_lost(), 10)
        await proxy.wait_connections(2, timeout=15)
        await bus.publish_event(tenant_event(2), "m2")
        await asyncio.wait_for(got[2].wait(), 30)
        assert len(builds) == 2 and builds[0].nc.is_closed and builds[1].nc.is_connected
        assert handled == ["e1", "e2"]
    finally:
        stop.set()
        await asyncio.wait_for(service, 30)
