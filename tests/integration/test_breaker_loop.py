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
from contracts.events import BreakerTripped, CancelRequested, OrderRequested
from contracts.orders import OrderRequest
from libs.brokers.factory import Brokers
from libs.brokers.paper import PaperBroker
from libs.registry.models import Account, BreakerConfig
from libs.registry.store import Registry
from libs.runtime.bus import Bus
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
    paused = await registry.account("brk")
    assert paused is not None and paused.paused
    liquidation = await tap.wait_for(lambda evs: [e for e in evs
                                                  if isinstance(e, OrderRequested)])
    assert (liquidation[0].order.symbol, liquidation[0].order.close_position) == ("ACME", True)
    published = await tap.wait_for(lambda evs: [e for e in evs if isinstance(e, BreakerTripped)])
    assert published == [trip]

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



async def test_take_profit_liquidates_only_when_configured_and_never_pauses(
        bus: Bus, tap: EventTap) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    paper = PaperBroker(await bus.kv(streams.BUCKET_PAPER), clock, D(0), D(0),
                        prices=await bus.kv(streams.BUCKET_PRICES))
    accounts = {}
    for name, liquidate in (("tp-keep", False), ("tp-sell", True)):
        config = BreakerConfig(base_equity=D(100_000), global_sl_pct=D(50),
                               global_tp_pct=D(105), liquidate_on_tp=liquidate)
        accounts[name] = Account(id=name, tenant_id="t", name=name, breaker=config)
        await registry.put(accounts[name])
        await paper.submit(accounts[name], OrderRequest(
            client_order_id=f"{name}-e1", symbol="TPCO", side="buy", quantity=D(400),
            intent="enter_long", reference_price=D(100)))
        await paper.submit(accounts[name], OrderRequest(  # resting, far below
            client_order_id=f"{name}-bid", symbol="TPCO", side="buy", quantity=D(1),
            intent="enter_long", order_type="limit", limit_price=D(50)))
    loop = BreakerLoop(bus, registry, Brokers(paper), await bus.kv(streams.BUCKET_BREAKERS),
                       clock, interval_s=10)

    await paper.record_price("TPCO", D(115))  # 60,000 cash + 46,000: over 105,000
    trips = {t.account_id: t for t in await loop.check_all()}

    assert {a: (t.kind, t.equity, t.threshold, t.paused) for a, t in trips.items()} == {
        "tp-keep": ("tp", D(106_000), D("105000.00"), False),
        "tp-sell": ("tp", D(106_000), D("105000.00"), False)}
    assert (trips["tp-keep"].liquidating, trips["tp-keep"].canceled_orders) == ([], [])
    assert (trips["tp-sell"].liquidating, trips["tp-sell"].canceled_orders) == (
        ["TPCO"], ["tp-sell-bid"])
    for name in accounts:
        stored = await registry.account(name)
        assert stored is not None and not stored.paused
    await tap.wait_for(lambda evs: len([e for e in evs if isinstance(e, BreakerTripped)]) == 2)
    # Only the account that liquidates asks the executor for anything.
    asked = [(type(e).__name__, e.account_id) for e in tap.events
             if isinstance(e, OrderRequested | CancelRequested)]
    assert sorted(asked) == [("CancelRequested", "tp-sell"), ("OrderRequested", "tp-sell")]
    (close,) = [e for e in tap.events if isinstance(e, OrderRequested)]
    assert (close.order.symbol, close.order.side, close.order.quantity,
            close.order.close_position) == ("TPCO", "sell", D(400), True)
    # Tripped once per configuration, whatever the equity does next.
    clock.advance(10)
    assert await loop.check_all() == []
