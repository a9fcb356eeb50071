"""What the executor publishes for an order's state: terminal for entries, leg events
for protective legs (whose signal already ended)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import msgspec

from contracts.events import LegCanceled, OrderRequested, WebhookFailed
from contracts.orders import OrderRequest
from libs.runtime.failures import failure
from services.executor.handlers import Executor
from tests.factories import ManualClock

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def executor() -> Executor:
    unused: Any = None  # outcome decisions touch neither registry, brokers nor KV
    return Executor(unused, unused, unused, ManualClock(NOW))


def requested(**order: Any) -> OrderRequested:
    request = OrderRequest(client_order_id="c-1-sl", symbol="ACME", side="sell",
                           quantity=D(5), intent="close", order_type="stop",
                           stop_price=D(90), **order)
    return OrderRequested(event_id="e", signal_id="sig", tenant_id="t", occurred_at=NOW,
                          strategy_id="s", account_id="a", order=request)


def test_giving_up_on_a_leg_cancels_the_leg_and_does_not_fail_the_signal_again() -> None:
    (out,) = executor().on_exhausted(requested(leg="sl", oco_group="c-1"), "boom")
    assert isinstance(out.event, LegCanceled)
    assert (out.event.leg, out.event.order.status) == ("sl", "rejected")
    assert "boom" in out.event.reason
    # Giving up again (a redelivery) publishes under the same message id: dropped.
    (again,) = executor().on_exhausted(requested(leg="sl", oco_group="c-1"), "other")
    assert again.msg_id == out.msg_id


def test_giving_up_on_an_entry_fails_its_signal() -> None:
    (out,) = executor().on_exhausted(requested(), "boom")
    assert isinstance(out.event, WebhookFailed)
    assert (out.event.stage, out.event.code) == ("execute", "internal_error")
    # One message id for every failure of a signal: it cannot end twice as failed.
    other = failure(requested(), "execute", "order_rejected", "refused", ManualClock(NOW))
    assert out.msg_id == other.msg_id
    assert out.msg_id != executor().on_exhausted(requested(leg="sl"), "boom")[0].msg_id


async def test_one_venue_down_does_not_stop_the_order_sync_of_other_accounts() -> None:
    """The order sync asks each account's broker; a broker that cannot answer is
    skipped for the round (asked once, not for each of its orders) and the other
    accounts' ended orders are still reported."""
    from fakes.memory import MemoryBus, MemoryKV

    from contracts.events import TradeExecuted
    from libs.brokers.base import BrokerUnavailable
    from services.executor.open_orders import OpenOrder, OpenOrders
    from tests.factories import make_account, make_broker_order, make_fill

    down, up = make_account(id="acct-down"), make_account(id="acct-up")
    asked: list[str] = []

    class Venue:
        keeps_legs_with_position = True  # nothing to bring in line after a fill here

        def __init__(self, healthy: bool) -> None:
            self.healthy = healthy

        async def find_order(self, account: Any, coid: str, symbol: str | None = None) -> Any:
            asked.append(coid)
            if not self.healthy:
                raise BrokerUnavailable("the venue is down")
            return make_broker_order(client_order_id=coid, status="filled",
                                     fill=make_fill(client_order_id=coid))

    class World:
        async def account(self, account_id: str) -> Any:
            return {down.id: down, up.id: up}.get(account_id)

        def for_account(self, account: Any) -> Venue:
            return Venue(account.id == up.id)

    opened = OpenOrders(MemoryKV())  # type: ignore[arg-type]
    for account, coid in ((down, "a-1"), (down, "a-2"), (up, "b-1")):
        await opened.remember(OpenOrder(
            client_order_id=coid, signal_id=f"sig-{coid}", tenant_id="t", strategy_id="s",
            account_id=account.id, broker="binance", symbol="AAPL",
            request=OrderRequest(client_order_id=coid, symbol="AAPL", side="buy",
                                 quantity=D(10), intent="enter_long", order_type="limit",
                                 limit_price=D(95))))
    world: Any = World()
    bus = MemoryBus()
    ended = await Executor(world, world, opened, ManualClock(NOW)).sync_open_orders(
        bus)  # type: ignore[arg-type]
    assert ended == 1
    assert [type(e).__name__ for e in bus.published] == [TradeExecuted.__name__]
    assert bus.published[0].signal_id == "sig-b-1"
    assert sorted(asked) == ["a-1", "b-1"] or sorted(asked) == ["a-2", "b-1"]
    assert {o.client_order_id for o in await opened.all()} == {"a-1", "a-2"}


async def test_a_stop_leg_the_order_sync_finds_filled_has_its_take_profit_cancelled_at_once(
        ) -> None:
    """On a venue that leaves legs resting when the position goes (an exchange), the
    sync that reports a filled stop-loss cancels its take-profit sibling in the same
    round: left standing until the orphan cleanup (30 s), a spot take-profit could
    sell coins bought meanwhile."""
    from fakes.memory import MemoryBus, MemoryKV

    from contracts.events import LegCanceled, LegFilled
    from libs.brokers.base import AccountSnapshot
    from services.executor.open_orders import OpenOrder, OpenOrders
    from tests.factories import make_account, make_broker_order, make_fill

    account = make_account(id="acct-x")
    stop = make_broker_order(client_order_id="e-1-sl", side="sell", order_type="stop",
                             limit_price=None, stop_price=D(90), leg="sl", oco_group="e-1",
                             status="filled", fill=make_fill(client_order_id="e-1-sl"))
    take = make_broker_order(client_order_id="e-1-tp", side="sell", limit_price=D(110),
                             leg="tp", oco_group="e-1")
    cancelled: list[str] = []

    class Exchange:
        keeps_legs_with_position = False

        async def find_order(self, account: Any, coid: str, symbol: str | None = None) -> Any:
            return stop if coid == stop.client_order_id else (
                msgspec.structs.replace(take, status="canceled") if cancelled else take)

        async def open_orders(self, account: Any) -> list[Any]:
            return [] if cancelled else [take]

        async def snapshot(self, account: Any) -> AccountSnapshot:
            return AccountSnapshot(cash=D(0), equity=D(0), positions={}, last_prices={})

        async def cancel_order(self, account: Any, coid: str, reason: str = "") -> Any:
            cancelled.append(coid)
            return msgspec.structs.replace(take, status="canceled")

    class World:
        async def account(self, account_id: str) -> Any:
            return account if account_id == account.id else None

        def for_account(self, account: Any) -> Exchange:
            return Exchange()

    opened = OpenOrders(MemoryKV())  # type: ignore[arg-type]
    for leg in (stop, take):
        request = OrderRequest(client_order_id=leg.client_order_id, symbol="AAPL", side="sell",
                               quantity=D(10), intent="close", order_type=leg.order_type,
                               limit_price=leg.limit_price, stop_price=leg.stop_price,
                               time_in_force="gtc", leg=leg.leg, oco_group="e-1")
        await opened.remember(OpenOrder(
            client_order_id=leg.client_order_id, signal_id="sig-e-1", tenant_id="t",
            strategy_id="s", account_id=account.id, broker="bybit", symbol="AAPL",
            request=request))
    world: Any = World()
    bus = MemoryBus()
    await Executor(world, world, opened, ManualClock(NOW)).sync_open_orders(
        bus)  # type: ignore[arg-type]
    assert cancelled == ["e-1-tp"]
    assert [(type(e).__name__, e.leg) for e in bus.published] == [
        (LegFilled.__name__, "sl"), (LegCanceled.__name__, "tp")]
