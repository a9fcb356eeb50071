"""The ccxt adapter against the fake Binance and the fake Orderly: what the broker
contract suite does not cover (spot rules, stops, equity, symbols, digest ids)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from factories import ManualClock, make_account
from fakes.binance_server import FAKE_KEY, FAKE_SECRET, FakeBinance
from fakes.orderly_server import ACCOUNT_ID, FakeOrderly

from contracts.orders import OrderRequest
from libs.brokers.base import BrokerRejected
from libs.brokers.ccxt_broker import CcxtBroker
from libs.registry.models import Account, ExchangeConfig


@pytest.fixture
async def binance() -> AsyncIterator[FakeBinance]:
    server = FakeBinance(hang_seconds=0.5)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def broker() -> AsyncIterator[CcxtBroker]:
    adapter = CcxtBroker("binance", ManualClock(), timeout=1.0, attempts=2, base_wait=0.01,
                         rate_limit=False)
    yield adapter
    await adapter.close()


def account(fake: FakeBinance | FakeOrderly, market: str, broker: str = "binance") -> Account:
    if isinstance(fake, FakeOrderly):
        config = ExchangeConfig(api_key=fake.key, secret=fake.secret, account_id=ACCOUNT_ID,
                                market="perp", url_override=fake.url)
    else:
        config = ExchangeConfig(api_key=FAKE_KEY, secret=FAKE_SECRET,
                                market=market, url_override=fake.url)  # type: ignore[arg-type]
    return make_account(broker=broker, exchange=config)


def order(cid: str, side: str = "buy", quantity: str = "0.5", **fields: object) -> OrderRequest:
    fields.setdefault("reference_price", Decimal(3000))
    return OrderRequest(client_order_id=cid, symbol=str(fields.pop("symbol", "ETH/USDT")),
                        side=side, quantity=Decimal(quantity),  # type: ignore[arg-type]
                        intent="enter_long" if side == "buy" else "exit_long",
                        **fields)  # type: ignore[arg-type]


async def test_spot_sells_never_exceed_the_coins_held(binance: FakeBinance,
                                                      broker: CcxtBroker) -> None:
    spot = account(binance, "spot")
    await broker.submit(spot, order("buy-1", quantity="0.5"))
    with pytest.raises(BrokerRejected) as refused:
        await broker.submit(spot, order("sell-more", side="sell", quantity="0.8"))
    assert refused.value.code == "no_spot_shorts"
    # An exit or a leg is sized to what is held; the coins are positions.
    leg = await broker.submit(spot, order("buy-1-sl", side="sell", quantity="0.8",
                                          order_type="stop", stop_price=Decimal(2800),
                                          leg="sl"))
    assert (leg.status, leg.quantity, leg.order_type, leg.leg) == ("open", Decimal("0.5"),
                                                                  "stop", "sl")
    sent = binance.created[-1]
    assert (sent["type"], sent["stopPrice"], sent["quantity"]) == ("STOP_LOSS", "2800", "0.5")
    snapshot = await broker.snapshot(spot)
    assert snapshot.positions == {"ETH/USDT": Decimal("0.5")}
    assert snapshot.cash == Decimal(100_000) - Decimal(1500)
    binance.set_price("ETHUSDT", 2790)  # the stop triggers at the venue
    filled = await broker.find_order(spot, "buy-1-sl")
    assert filled is not None and filled.fill is not None
    assert (await broker.snapshot(spot)).positions == {}


async def test_sizes_and_prices_are_rounded_and_minimums_refused(binance: FakeBinance,
                                                                 broker: CcxtBroker) -> None:
    perp = account(binance, "perp")
    placed = await broker.submit(perp, order("lim", symbol="BTC/USDT", quantity="0.01239",
                                             order_type="limit",
                                             limit_price=Decimal("50000.07")))
    assert (placed.quantity, placed.limit_price) == (Decimal("0.012"), Decimal("50000.1"))
    with pytest.raises(BrokerRejected, match="minimum amount") as below_step:
        await broker.submit(perp, order("dust", symbol="BTC/USDT", quantity="0.0004"))
    with pytest.raises(BrokerRejected, match="minimum order value") as below_value:
        await broker.submit(perp, order("tiny", symbol="BTC/USDT", quantity="0.001",
                                        order_type="limit", limit_price=Decimal(1000)))
    assert {below_step.value.code, below_value.value.code} == {"below_minimum"}
    with pytest.raises(BrokerRejected) as unknown:
        await broker.submit(perp, order("stock", symbol="AAPL"))
    assert unknown.value.code == "unsupported_symbol"
    assert [o["newClientOrderId"] for o in binance.created] == ["lim"]


async def test_perpetual_equity_counts_unrealised_profit_once(binance: FakeBinance,
                                                              broker: CcxtBroker) -> None:
    perp = account(binance, "perp")
    await broker.submit(perp, order("long", symbol="BTC/USDT", quantity="1",
                                    reference_price=None))
    binance.set_price("BTCUSDT", 61000)
    snapshot = await broker.snapshot(perp)
    assert snapshot.positions == {"BTC/USDT": Decimal(1)}
    assert snapshot.equity == Decimal(101_000)
    assert snapshot.last_prices["BTC/USDT"] == Decimal(61000)


async def test_orderly_equity_adds_the_unsettled_profit() -> None:
    fake = FakeOrderly()
    await fake.start()
    adapter = CcxtBroker("orderly", ManualClock(), timeout=1.0, attempts=2, base_wait=0.01,
                         rate_limit=False)
    try:
        perp = account(fake, "perp", broker="orderly")
        short = OrderRequest(client_order_id="short", symbol="BTC-PERP", side="sell",
                             quantity=Decimal("0.1"), intent="enter_short")
        await adapter.submit(perp, short)
        fake.set_price("PERP_BTC_USDC", 59000)
        snapshot = await adapter.snapshot(perp)
        fee = Decimal("0.1") * 60000 * Decimal("0.0005")
        assert snapshot.positions == {"BTC-PERP": Decimal("-0.1")}
        assert snapshot.equity == Decimal(10_000) - fee + 100
    finally:
        await adapter.close()
        await fake.stop()


async def test_an_orderly_key_whose_seed_starts_with_a_zero_byte_signs() -> None:
    """ccxt's base58 decoder drops leading zero bytes (1 key in 256 could not sign)."""
    fake = FakeOrderly(seed=bytes(1) + bytes(range(1, 32)))
    assert fake.secret.startswith("1")
    await fake.start()
    adapter = CcxtBroker("orderly", ManualClock(), timeout=1.0, attempts=2, base_wait=0.01,
                         rate_limit=False)
    try:
        perp = account(fake, "perp", broker="orderly")
        placed = await adapter.submit(perp, OrderRequest(
            client_order_id="zero-seed", symbol="BTC-PERP", side="buy",
            quantity=Decimal("0.1"), intent="enter_long"))
        assert placed.status == "filled"
        assert fake.signed_requests > 0
    finally:
        await adapter.close()
        await fake.stop()


async def test_a_long_client_id_is_found_and_listed_under_ours(binance: FakeBinance,
                                                               broker: CcxtBroker) -> None:
    perp = account(binance, "perp")
    ours = "a-strategy-with-a-long-slug-1765119600-abcd1234"
    placed = await broker.submit(perp, order(ours, symbol="BTC/USDT", quantity="0.01",
                                             order_type="limit", limit_price=Decimal(50000)))
    assert placed.client_order_id == ours
    assert binance.created[-1]["newClientOrderId"].startswith("th")
    assert [o.client_order_id for o in await broker.open_orders(perp)] == [ours]
    again = await broker.submit(perp, order(ours, symbol="BTC/USDT", quantity="0.01",
                                            order_type="limit", limit_price=Decimal(50000)))
    assert again.order_id == placed.order_id and len(binance.created) == 1


async def test_a_new_adapter_finds_a_spot_stop_that_ended_before_it_started(
        binance: FakeBinance, broker: CcxtBroker) -> None:
    spot = account(binance, "spot")
    await broker.submit(spot, order("buy-2", quantity="0.5"))
    await broker.submit(spot, order("buy-2-sl", side="sell", quantity="0.5", order_type="stop",
                                    stop_price=Decimal(2800), leg="sl"))
    binance.set_price("ETHUSDT", 2790)  # the stop triggers and fills at the venue
    restarted = CcxtBroker("binance", ManualClock(), timeout=1.0, attempts=2, base_wait=0.01,
                           rate_limit=False)
    try:
        # Neither listed (it ended) nor seen by this process: Binance needs the market.
        assert await restarted.find_order(spot, "buy-2-sl") is None
        found = await restarted.find_order(spot, "buy-2-sl", "ETH/USDT")
        assert found is not None and found.fill is not None
        assert (found.client_order_id, found.status, found.order_type, found.fill.quantity) == (
            "buy-2-sl", "filled", "stop", Decimal("0.5"))
    finally:
        await restarted.close()


async def test_spot_equity_counts_the_coins_at_the_last_price_seen(
        binance: FakeBinance) -> None:
    """Buying coins moves value from cash into coins: equity stays (a breaker must not
    trip on a purchase); a coin with no price seen yet is held but not valued."""
    from fakes.memory import MemoryKV

    from libs.brokers.market_prices import MarketPrices

    prices = MarketPrices(MemoryKV())  # type: ignore[arg-type]
    adapter = CcxtBroker("binance", ManualClock(), timeout=1.0, attempts=2, base_wait=0.01,
                         rate_limit=False, prices=prices)
    try:
        spot = account(binance, "spot")
        await adapter.submit(spot, order("buy-eth", quantity="0.5"))
        unpriced = await adapter.snapshot(spot)
        assert unpriced.positions == {"ETH/USDT": Decimal("0.5")}
        assert unpriced.equity == unpriced.cash == Decimal(100_000) - Decimal(1500)
        await prices.record("ETH/USDT", Decimal(3100))  # an alert's price, a tick
        priced = await adapter.snapshot(spot)
        assert priced.cash == Decimal(98_500)
        assert priced.equity == Decimal(98_500) + Decimal("0.5") * 3100
    finally:
        await adapter.close()
