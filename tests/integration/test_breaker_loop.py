"""The breaker's tick on real NATS and the paper broker, driven by a test clock.

The loop's timer only calls ``check_all``; the test calls it directly at the
moments it chooses, so nothing waits for ten seconds to pass.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from factories import ManualClock
from harness import EventTap, master_box

from contracts import streams
from contracts.events import BreakerTripped, OrderRequested
from contracts.orders import OrderRequest
from services.brokers.factory import Brokers
from services.brokers.paper import PaperBroker
from services.registry.models import Account, BreakerConfig
from services.registry.store import Registry
from services.runtime.bus import Bus
from services.sltp_monitor.breaker_loop import BreakerLoop


async def test_breaker_trips_once_per_configuration(bus: Bus, tap: EventTap) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    paper = PaperBroker(await bus.kv(streams.BUCKET_PAPER), clock, D(0), D(0),
                        prices=await bus.kv(streams.BUCKET_PRICES))
    config = BreakerConfig(base_equity=D(100_000), global_sl_pct=D(95))
    account = Account(id="brk", tenant_id="t", name="Breaker test", breaker=config)
    await registry.put(account)
    await paper.submit(account, OrderRequest(client_order_id="e1", symbol="ACME", side="buy",
                                             quantity=D(400), intent="enter_long",
                                             reference_price=D(100)))
    loop = BreakerLoop(bus, registry, Brokers(paper), await bus.kv(streams.BUCKET_BREAKERS),
                       clock, interval_s=10)

    assert await loop.check_all() == []  # equity 100,000: quiet
    await paper.record_price("ACME", D(80))  # marks the position down by 8,000
    clock.advance(10)
    (trip,) = await loop.check_all()
    assert (trip.kind, trip.equity, trip.threshold, trip.paused) == (
        "sl", D(92_000), D("95000.00"), True)
    assert trip.signal_id == f"breaker:brk:sl:{int(clock.now().timestamp())}"
    paused = await registry.account("brk")
    assert paused is not None and paused.paused
    liquidation = await tap.wait_for(lambda evs: [e for e in evs
                                                  if isinstance(e, OrderRequested)])
    assert (liquidation[0].order.symbol, liquidation[0].order.close_position) == ("ACME", True)
    await tap.wait_for(lambda evs: any(isinstance(e, BreakerTripped) for e in evs))

    clock.advance(10)
    assert await loop.check_all() == []  # the same configuration never trips twice

    # Editing the configuration re-arms it with new thresholds.
    edited = BreakerConfig(base_equity=D(92_000), global_sl_pct=D(95))
    await registry.put(paused.model_copy(update={"breaker": edited, "paused": False}))
    clock.advance(10)
    assert await loop.check_all() == []  # 92,000 > 87,400
    # No executor runs here, so the 400 shares are still held: at 65 equity is
    # 60,000 cash + 26,000 = 86,000, under 95% of 92,000.
    await paper.record_price("ACME", D(65))
    clock.advance(10)
    (again,) = await loop.check_all()
    assert (again.kind, again.equity, again.threshold) == ("sl", D(86_000), D("87400.00"))
