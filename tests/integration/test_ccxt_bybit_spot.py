"""The ccxt adapter on Bybit spot (unified account) against the fake Bybit: what the
broker contract suite does not cover (spot stops as ``orderFilter=StopOrder`` orders,
exits sized to the coins held, the request shapes ccxt sends for ``category=spot``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from factories import ManualClock, make_account
from fakes.bybit_server import FAKE_KEY, FAKE_SECRET, FakeBybit

from contracts.orders import OrderRequest
from libs.brokers.base import BrokerRejected
from libs.brokers.ccxt_broker import CcxtBroker
from libs.registry.models import Account, ExchangeConfig


@pytest.fixture
async def bybit() -> AsyncIterator[FakeBybit]:
    server = FakeBybit(hang_seconds=0.5)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def broker() -> AsyncIterator[CcxtBroker]:
    adapter = CcxtBroker("bybit", ManualClock(), timeout=1.0, attempts=2, base_wait=0.01,
                         rate_limit=False)
    yield adapter
    await adapter.close()


def spot_account(fake: FakeBybit) -> Account:
    return make_account(broker="bybit", exchange=ExchangeConfig(
        api_key=FAKE_KEY, secret=FAKE_SECRET, market="spot", url_override=fake.url))


def order(cid: str, side: str = "buy", quantity: str = "0.5", **fields: object) -> OrderRequest:
    fields.setdefault("reference_price", Decimal(3000))
    fields.setdefault("intent", "enter_long" if side == "buy" else "exit_long")
    return OrderRequest(client_order_id=cid, symbol="ETH/USDT", side=side,  # type: ignore[arg-type]
                        quantity=Decimal(quantity), **fields)  # type: ignore[arg-type]


async def test_a_spot_buy_is_a_spot_market_order_in_coins(bybit: FakeBybit,
                                                          broker: CcxtBroker) -> None:
    spot = spot_account(bybit)
    placed = await broker.submit(spot, order("sb-1", quantity="0.5"))

    assert placed.status == "filled" and placed.fill is not None
    assert placed.fill.quantity == Decimal("0.5")
    sent = bybit.created[-1]
    assert (sent["category"], sent["orderType"], sent["marketUnit"], sent["qty"],
            sent["orderLinkId"]) == ("spot", "Market", "baseCoin", "0.5", "sb-1")
    assert "reduceOnly" not in sent
    snapshot = await broker.snapshot(spot)
    assert snapshot.positions == {"ETH/USDT": Decimal("0.5")}
    assert snapshot.cash == Decimal(100_000) - Decimal(1500)
    assert bybit.positions == {}  # no linear position was opened


async def test_spot_stop_legs_are_stop_orders_sized_to_the_coins_held(
        bybit: FakeBybit, broker: CcxtBroker) -> None:
    spot = spot_account(bybit)
    await broker.submit(spot, order("sb-2", quantity="0.5"))
    with pytest.raises(BrokerRejected) as refused:
        await broker.submit(spot, order("sell-more", side="sell", quantity="0.8"))
    assert refused.value.code == "no_spot_shorts"

    leg = await broker.submit(spot, order("sb-2-sl", side="sell", quantity="0.8",
                                          order_type="stop", stop_price=Decimal(2800),
                                          leg="sl"))

    assert (leg.status, leg.quantity, leg.order_type, leg.leg, leg.stop_price) == (
        "open", Decimal("0.5"), "stop", "sl", Decimal(2800))
    sent = bybit.created[-1]
    assert (sent["category"], sent["orderFilter"], sent["triggerPrice"], sent["qty"]) == (
        "spot", "StopOrder", "2800", "0.5")
    assert "triggerDirection" not in sent and "reduceOnly" not in sent
    listed = await broker.open_orders(spot)
    assert [(o.client_order_id, o.order_type) for o in listed] == [("sb-2-sl", "stop")]
    # A restarted adapter finds it given its symbol (the stop book is searched too).
    restarted = CcxtBroker("bybit", ManualClock(), timeout=1.0, attempts=2, base_wait=0.01,
                           rate_limit=False)
    try:
        found = await restarted.find_order(spot, "sb-2-sl", "ETH/USDT")
    finally:
        await restarted.close()
    assert found is not None and (found.status, found.order_type) == ("open", "stop")

    bybit.set_price("ETHUSDT", 2790)  # the stop triggers at the venue and sells
    filled = await broker.find_order(spot, "sb-2-sl")
    assert filled is not None and filled.fill is not None
    assert filled.fill.quantity == Decimal("0.5")
    assert (await broker.snapshot(spot)).positions == {}


async def test_a_spot_stop_is_cancelled_as_a_stop_order(bybit: FakeBybit,
                                                        broker: CcxtBroker) -> None:
    spot = spot_account(bybit)
    await broker.submit(spot, order("sb-3", quantity="0.5"))
    await broker.submit(spot, order("sb-3-sl", side="sell", order_type="stop",
                                    stop_price=Decimal(2800), leg="sl"))

    cancelled = await broker.cancel_order(spot, "sb-3-sl")

    assert cancelled is not None and cancelled.status == "canceled"
    assert bybit.orders["sb-3-sl"]["orderStatus"] == "Cancelled"
    assert await broker.open_orders(spot) == []
    bybit.set_price("ETHUSDT", 2790)
    assert (await broker.snapshot(spot)).positions == {"ETH/USDT": Decimal("0.5")}


async def test_closing_a_spot_holding_sells_every_coin_held(bybit: FakeBybit,
                                                            broker: CcxtBroker) -> None:
    spot = spot_account(bybit)
    await broker.submit(spot, order("sb-4", quantity="0.25"))
    await broker.submit(spot, order("sb-5", quantity="0.5"))

    closed = await broker.submit(spot, order("sb-close", side="sell", quantity="0.1",
                                             intent="close", close_position=True))

    assert closed.fill is not None and closed.fill.quantity == Decimal("0.75")
    assert bybit.spot["ETH"] == 0
    with pytest.raises(BrokerRejected) as refused:
        await broker.submit(spot, order("sb-close-again", side="sell", intent="close",
                                        close_position=True))
    assert refused.value.code == "no_position"
