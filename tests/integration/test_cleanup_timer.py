"""The sl-tp-monitor's orphan cleanup runs every 30 s on its own, on a test clock:
the waits pass at once, and the test reads the broker's book at each of them. The
executor (the one writer of orders) carries out what the cleanup asks for."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from factories import NOW, ManualClock, make_account, make_broker_order, make_order
from harness import master_box, plant_order

from contracts import streams
from contracts.orders import OrderRequest
from libs.brokers.factory import Brokers
from libs.brokers.paper import PaperBroker
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.config import Settings
from libs.runtime.consumer import Consumer
from services.executor.handlers import Executor
from services.executor.open_orders import OpenOrders
from services.sltp_monitor.cleanup import OrphanCleanup
from services.sltp_monitor.commands import Commands


def stop_leg(client_order_id: str, symbol: str) -> OrderRequest:
    return OrderRequest(client_order_id=client_order_id, symbol=symbol, side="sell",
                        quantity=D(3), intent="close", order_type="stop", stop_price=D(40),
                        time_in_force="gtc", leg="sl",
                        oco_group=client_order_id.removesuffix("-sl"))


async def test_orphan_legs_are_cancelled_every_30_s_without_being_asked(bus: Bus) -> None:
    clock = ManualClock()
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    account = make_account()
    await registry.put(account)
    paper = PaperBroker(await bus.kv(streams.BUCKET_PAPER), clock, D(0), D(0))
    brokers = Brokers(paper)
    await paper.submit(account, make_order(client_order_id="held", symbol="HELD",
                                           quantity=D(3), reference_price=D(50)))
    await paper.submit(account, stop_leg("held-sl", "HELD"))  # protects a position
    # A leg protecting nothing (left by an older version: the broker refuses it now).
    await plant_order(bus, account.id, make_broker_order(
        order_id="gone", client_order_id="gone-sl", symbol="GONE", side="sell",
        quantity=D(5), order_type="stop", stop_price=D(90), limit_price=None,
        submitted_at=NOW, leg="sl", oco_group="gone"))

    async def open_ids() -> list[str]:
        return sorted(o.client_order_id for o in await paper.open_orders(account))

    waits: list[float] = []
    seen: list[list[str]] = []

    async def timer(stop: asyncio.Event, seconds: float) -> bool:
        """The time between ticks passes at once; the test looks before each wait."""
        waits.append(seconds)
        seen.append(await open_ids())
        clock.advance(seconds)
        if len(waits) == 3:
            stop.set()
        return stop.is_set()

    executor = Executor(registry, brokers, OpenOrders(await bus.kv(streams.BUCKET_OPEN_ORDERS)),
                        clock)
    stop_executor = asyncio.Event()
    executing = asyncio.create_task(Consumer(bus, streams.EXECUTOR, executor.handle)
                                    .run(stop_executor))
    try:
        # A round waits (bounded) until the executor carried its requests out: bounded
        # generously here, so a slow machine cannot make the next look early.
        cleanup = OrphanCleanup(registry, brokers, bus, clock, settle_s=30.0)
        commands = Commands(bus, cleanup, registry, brokers, Settings().cleanup_interval_s,
                            wait=timer)
        await asyncio.wait_for(commands.run(asyncio.Event()), timeout=60)
    finally:
        stop_executor.set()
        await asyncio.wait_for(executing, timeout=10)

    assert waits == [30.0, 30.0, 30.0]
    # Nothing before the first 30 s; after them the orphan is gone, and stays gone.
    assert seen == [["gone-sl", "held-sl"], ["held-sl"], ["held-sl"]]
    orphan = await paper.find_order(account, "gone-sl")
    assert orphan is not None
    assert (orphan.status, orphan.quantity) == ("canceled", D(5))
    held = await paper.find_order(account, "held-sl")
    assert held is not None and (held.status, held.quantity) == ("open", D(3))
    assert (await paper.snapshot(account)).positions == {"HELD": D(3)}
