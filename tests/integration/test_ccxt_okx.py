"""The ccxt adapter against the fake OKX: what the broker contract suite does not
cover (swaps sized in contracts of several coins, leverage per margin mode, trigger
orders in the algo book, spot, the API passphrase, demo trading)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from factories import ManualClock, make_account
from fakes.okx_server import FAKE_KEY, FAKE_PASSPHRASE, FAKE_SECRET, FakeOkx

from contracts.orders import OrderRequest
from libs.brokers.base import BrokerRejected
from libs.brokers.ccxt_broker import CcxtBroker
from libs.brokers.ccxt_symbols import venue_client_id
from libs.brokers.ccxt_venues import VENUES
from libs.registry.models import Account, ExchangeConfig

BTC_SWAP = "BTC-USDT-SWAP"


def sent_as(client_order_id: str) -> str:
    """Our id as OKX gets it (letters and digits: ids with dashes go as a digest)."""
    return venue_client_id(client_order_id, VENUES["okx"].client_ids)


@pytest.fixture
async def okx() -> AsyncIterator[FakeOkx]:
    server = FakeOkx(hang_seconds=0.5)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def broker() -> AsyncIterator[CcxtBroker]:
    adapter = CcxtBroker("okx", ManualClock(), timeout=1.0, attempts=2, base_wait=0.01,
                         rate_limit=False)
    yield adapter
    await adapter.close()


def account(fake: FakeOkx, market: str = "perp", **config: Any) -> Account:
    fields: dict[str, Any] = {"api_key": FAKE_KEY, "secret": FAKE_SECRET,
                              "password": FAKE_PASSPHRASE, "market": market,
                              "url_override": fake.url, **config}
    return make_account(broker="okx", exchange=ExchangeConfig(**fields))


def order(cid: str, side: str = "buy", quantity: str = "0.5", **fields: Any) -> OrderRequest:
    fields.setdefault("intent", "enter_long" if side == "buy" else "exit_long")
    return OrderRequest(client_order_id=cid, symbol=str(fields.pop("symbol", "BTC/USDT")),
                        side=side, quantity=Decimal(quantity),  # type: ignore[arg-type]
                        **fields)


async def test_coins_become_contracts_and_fills_and_positions_come_back_in_coins(
        okx: FakeOkx, broker: CcxtBroker) -> None:
    perp = account(okx)
    # 0.01234 BTC = 1.234 contracts of 0.01 BTC: truncated to the 0.01 lot, 1.23.
    placed = await broker.submit(perp, order("btc-long-1765119600-okx-coins",
                                             quantity="0.01234"))
    sent = okx.created[-1]
    assert (sent["instId"], sent["sz"], sent["tdMode"]) == (BTC_SWAP, "1.23", "cross")
    assert okx.positions[BTC_SWAP][0] == Decimal("1.23")
    assert placed.fill is not None
    assert (placed.status, placed.quantity, placed.fill.quantity) == (
        "filled", Decimal("0.0123"), Decimal("0.0123"))
    # ETH swaps: contracts of 0.1 ETH in whole contracts: 0.25 ETH is 2 (0.2 ETH).
    eth = await broker.submit(perp, order("eth-long", symbol="ETH/USDT", quantity="0.25"))
    assert okx.created[-1]["sz"] == "2"
    assert eth.fill is not None and eth.fill.quantity == Decimal("0.2")
    snapshot = await broker.snapshot(perp)
    assert snapshot.positions == {"BTC/USDT": Decimal("0.0123"), "ETH/USDT": Decimal("0.2")}
    with pytest.raises(BrokerRejected) as dust:  # 0.05 ETH is half a contract
        await broker.submit(perp, order("eth-dust", symbol="ETH/USDT", quantity="0.05"))
    assert dust.value.code == "below_minimum"
    # Our long id went as a deterministic alphanumeric clOrdId of at most 32 characters.
    cl_ord_id = okx.created[0]["clOrdId"]
    assert cl_ord_id == sent_as("btc-long-1765119600-okx-coins")
    assert cl_ord_id.isalnum() and len(cl_ord_id) <= 32
    found = await broker.find_order(perp, "btc-long-1765119600-okx-coins", "BTC/USDT")
    assert found is not None and found.fill is not None
    assert found.fill.quantity == Decimal("0.0123")


async def test_leverage_is_set_per_margin_mode_and_closes_are_reduce_only(
        okx: FakeOkx, broker: CcxtBroker) -> None:
    perp = account(okx, leverage=5, margin_mode="isolated")
    await broker.submit(perp, order("short", side="sell", quantity="0.3",
                                    intent="enter_short"))
    assert okx.leverage[BTC_SWAP] == ("5", "isolated")
    assert (okx.created[-1]["tdMode"], okx.positions[BTC_SWAP][0]) == ("isolated",
                                                                       Decimal(-30))
    # The stop-loss leg is a trigger (algo) order, reduce-only, keyed by algoClOrdId.
    leg = await broker.submit(perp, order("short-sl", side="buy", quantity="0.5",
                                          intent="close", order_type="stop",
                                          stop_price=Decimal(61000), leg="sl"))
    sent = okx.created[-1]
    assert (sent["ordType"], sent["algoClOrdId"], sent["sz"], sent["reduceOnly"]) == (
        "trigger", sent_as("short-sl"), "30", True)
    assert (leg.status, leg.order_type, leg.quantity, leg.stop_price) == (
        "open", "stop", Decimal("0.3"), Decimal(61000))
    assert [o.client_order_id for o in await broker.open_orders(perp)] == ["short-sl"]
    assert okx.listings[-2:] == [("orders-pending", "SWAP"), ("orders-algo-pending", "SWAP")]
    okx.set_price(BTC_SWAP, 61500)  # the stop fires at the venue
    fired = await broker.find_order(perp, "short-sl", "BTC/USDT")
    assert fired is not None and fired.fill is not None
    assert (fired.status, fired.fill.quantity, fired.fill.average_price) == (
        "filled", Decimal("0.3"), Decimal(61500))
    assert BTC_SWAP not in okx.positions
    # A close when flat trades nothing; a close of a long sends its contracts reduce-only.
    with pytest.raises(BrokerRejected) as flat:
        await broker.submit(perp, order("close-flat", side="sell", close_position=True,
                                        intent="close"))
    assert flat.value.code == "no_position"
    await broker.submit(perp, order("long", quantity="0.42"))
    closed = await broker.submit(perp, order("close", side="sell", quantity="1",
                                             close_position=True, intent="close"))
    assert (okx.created[-1]["sz"], okx.created[-1]["reduceOnly"]) == ("42", True)
    assert closed.fill is not None and closed.fill.quantity == Decimal("0.42")
    assert BTC_SWAP not in okx.positions


async def test_legs_listed_by_another_process_are_one_entrys_and_cancel_there(
        okx: FakeOkx, broker: CcxtBroker) -> None:
    """The monitor's orphan cleanup reads with an adapter that placed nothing: OKX's
    digested ids must still list as the two legs of one entry."""
    perp = account(okx)
    entry = "gold-breakout-1765119600-abcd1234"
    await broker.submit(perp, order(entry, quantity="0.1"))
    await broker.submit(perp, order(f"{entry}-sl", side="sell", quantity="0.1",
                                    intent="close", order_type="stop",
                                    stop_price=Decimal(58000), leg="sl"))
    await broker.submit(perp, order(f"{entry}-tp", side="sell", quantity="0.1",
                                    intent="close", order_type="limit",
                                    limit_price=Decimal(63000), leg="tp"))
    assert sorted(o.client_order_id for o in await broker.open_orders(perp)) == [
        f"{entry}-sl", f"{entry}-tp"]
    other = CcxtBroker("okx", ManualClock(), timeout=1.0, attempts=2, base_wait=0.01,
                       rate_limit=False)
    try:
        listed = await other.open_orders(perp)
        assert sorted((o.leg, o.order_type, o.quantity) for o in listed) == [
            ("sl", "stop", Decimal("0.1")), ("tp", "limit", Decimal("0.1"))]
        assert {o.oco_group for o in listed} == {sent_as(f"{entry}-sl")[:-2]}
        stop = next(o for o in listed if o.leg == "sl")
        canceled = await other.cancel_order(perp, stop.client_order_id)
        assert canceled is not None and canceled.status == "canceled"
    finally:
        await other.close()
    assert okx.orders[sent_as(f"{entry}-sl")]["state"] == "canceled"
    assert okx.faults.count("POST /api/v5/trade/cancel-algos") == 1
    assert [o.client_order_id for o in await broker.open_orders(perp)] == [f"{entry}-tp"]


async def test_spot_trades_coins_in_cash_mode(okx: FakeOkx, broker: CcxtBroker) -> None:
    spot = account(okx, "spot")
    bought = await broker.submit(spot, order("spot-buy", symbol="ETH/USDT", quantity="0.5"))
    sent = okx.created[-1]
    assert (sent["instId"], sent["sz"], sent["tdMode"], sent["tgtCcy"]) == (
        "ETH-USDT", "0.5", "cash", "base_ccy")
    assert bought.fill is not None and bought.fill.quantity == Decimal("0.5")
    snapshot = await broker.snapshot(spot)
    assert snapshot.positions == {"ETH/USDT": Decimal("0.5")}
    with pytest.raises(BrokerRejected) as short:
        await broker.submit(spot, order("spot-sell", side="sell", symbol="ETH/USDT",
                                        quantity="0.8"))
    assert short.value.code == "no_spot_shorts"
    # A spot stop leg is a trigger order in cash mode, sized to the coins held.
    leg = await broker.submit(spot, order("spot-buy-sl", side="sell", symbol="ETH/USDT",
                                          quantity="0.8", order_type="stop",
                                          stop_price=Decimal(2800), leg="sl"))
    sent = okx.created[-1]
    assert (sent["ordType"], sent["tdMode"], sent["sz"], sent["triggerPx"]) == (
        "trigger", "cash", "0.5", "2800")
    assert (leg.status, leg.quantity) == ("open", Decimal("0.5"))
    okx.set_price("ETH-USDT", 2790)
    fired = await broker.find_order(spot, "spot-buy-sl", "ETH/USDT")
    assert fired is not None and fired.fill is not None
    assert (fired.status, fired.fill.quantity) == ("filled", Decimal("0.5"))
    assert (await broker.snapshot(spot)).positions == {}


async def test_keys_passphrase_and_demo_trading(okx: FakeOkx) -> None:
    adapters = [CcxtBroker("okx", ManualClock(), timeout=1.0, attempts=2, base_wait=0.01,
                           rate_limit=False) for _ in range(4)]
    try:
        wrong_secret = account(okx, secret="not-the-secret")
        wrong_passphrase = account(okx, password="not-the-passphrase")
        for adapter, wrong in zip(adapters, (wrong_secret, wrong_passphrase), strict=False):
            with pytest.raises(BrokerRejected) as refused:
                await adapter.snapshot(wrong)
            assert refused.value.code == "okx_authentication_error"
        assert okx.simulated == []  # nothing signed wrongly got through
        # Demo trading (testnet, the default) sends x-simulated-trading: 1; live does not.
        await adapters[2].snapshot(account(okx, testnet=True))
        assert set(okx.simulated) == {"1"}
        okx.simulated.clear()
        await adapters[3].snapshot(account(okx, testnet=False))
        assert okx.simulated and set(okx.simulated) == {""}
    finally:
        for adapter in adapters:
            await adapter.close()
