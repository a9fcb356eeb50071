"""Alerts through the running system to orders at (fake) crypto exchanges through
the ccxt adapter over real HTTP: Binance USDⓈ-M perpetuals and spot, Bybit linear
perpetuals and spot, OKX swaps (an account registered through the admin API, sized in
contracts). (The Orderly Network has its own module.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from e2e.helpers import orders_forgotten, post_json, post_once_known, tv_alert
from fakes.binance_server import FAKE_KEY, FakeBinance
from fakes.bybit_server import FAKE_KEY as BYBIT_KEY
from fakes.bybit_server import FAKE_SECRET as BYBIT_SECRET
from fakes.bybit_server import FakeBybit
from fakes.okx_server import FAKE_KEY as OKX_KEY
from fakes.okx_server import FAKE_PASSPHRASE as OKX_PASSPHRASE
from fakes.okx_server import FAKE_SECRET as OKX_SECRET
from fakes.okx_server import FakeOkx
from harness import EventTap, System, Tenancy, master_box, provision, wait_until

from contracts import streams
from contracts.events import LegCanceled, OrderPlaced, TradeExecuted, WebhookFailed
from libs.brokers.ccxt_symbols import venue_client_id
from libs.brokers.ccxt_venues import VENUES
from libs.registry.models import ExchangeConfig
from libs.registry.store import Registry
from libs.registry.views import MASK
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]
SECRET = "binance-e2e-secret-0123456789"


@pytest.fixture
async def binance() -> AsyncIterator[FakeBinance]:
    """The fake Binance of one test (asked for before ``system``: it outlives the
    test's turn on the shared system)."""
    server = FakeBinance(secret=SECRET, hang_seconds=2.0)
    await server.start()
    yield server
    await server.stop()


async def binance_strategy(bus: Bus, fake: FakeBinance, market: str,
                           **fields: object) -> Tenancy:
    config = ExchangeConfig(api_key=FAKE_KEY, secret=SECRET, market=market,  # type: ignore[arg-type]
                            leverage=5, margin_mode="isolated", url_override=fake.url)
    return await provision(bus, account_fields={"broker": "binance", "exchange": config},
                           sizing_mode="alert_contracts", **fields)


async def trail(http: aiohttp.ClientSession, system: System, signal_id: str,
                wanted: str) -> list[dict[str, Any]]:
    """The signal's audit trail once the store has an event of type ``wanted``."""
    events: list[dict[str, Any]] = []

    async def recorded() -> bool:
        nonlocal events
        async with http.get(f"{system.operator_url}/api/v1/signals/{signal_id}",
                            headers=system.admin_headers) as resp:
            events = (await resp.json()).get("events", []) if resp.status == 200 else []
        return any(e["type"] == wanted for e in events)
    await wait_until(recorded, timeout=20, message=f"the trail of {signal_id} to show {wanted}")
    return events


@pytest.fixture
async def bybit() -> AsyncIterator[FakeBybit]:
    """The fake Bybit of one test (asked for before ``system``)."""
    server = FakeBybit(hang_seconds=2.0)
    await server.start()
    yield server
    await server.stop()


async def test_bybit_entry_gets_reduce_only_legs_that_end_with_the_stop(
        bybit: FakeBybit, system: System, bus: Bus, tap: EventTap) -> None:
    config = ExchangeConfig(api_key=BYBIT_KEY, secret=BYBIT_SECRET, market="perp",
                            leverage=3, url_override=bybit.url)
    t = await provision(bus, account_fields={"broker": "bybit", "exchange": config},
                        sizing_mode="alert_contracts")
    bybit.faults.fail_next("POST /v5/order/create", "503")
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, system.webhook_url(t.strategy), {
            "alertId": "bybit-1", "action": "buy", "symbol": "BYBIT:ETHUSDT.P",
            "quantity": "0.25", "price": "3000", "stopLoss": "2900", "takeProfit": "3300"})
    done = await tap.wait_terminal(entry["signal_id"])
    assert isinstance(done, TradeExecuted), done
    assert (done.broker, done.fill.symbol, done.fill.quantity) == (
        "bybit", "ETH/USDT", Decimal("0.25"))
    assert bybit.leverage["ETHUSDT"] == "3"
    await wait_until(lambda: len([o for o in bybit.orders.values() if o["reduceOnly"]]) == 2,
                     timeout=20, message="both legs at Bybit")
    legs = [o for o in bybit.orders.values() if o["reduceOnly"]]
    assert sorted((o["orderType"], str(o["triggerPrice"] or o["price"])) for o in legs) == [
        ("Limit", "3300"), ("Market", "2900")]
    bybit.set_price("ETHUSDT", 2890)  # the stop triggers; its take-profit sibling goes
    await tap.wait_for(lambda evs: [e for e in evs if isinstance(e, LegCanceled)
                                    and e.signal_id == entry["signal_id"]], timeout=40)
    assert "ETHUSDT" not in bybit.positions
    assert [o["orderStatus"] for o in legs] in (["Filled", "Cancelled"],
                                                ["Cancelled", "Filled"])
    await orders_forgotten(bus, t.account.id)


async def test_a_bybit_spot_account_buys_coins_and_its_stop_leg_sells_them(
        bybit: FakeBybit, system: System, bus: Bus, tap: EventTap) -> None:
    api, headers = f"{system.operator_url}/api/v1", system.admin_headers
    keys = {"api_key": BYBIT_KEY, "secret": BYBIT_SECRET, "market": "spot",
            "testnet": True, "url_override": bybit.url}
    async with aiohttp.ClientSession(headers=headers) as http:
        async def call(method: str, path: str, body: Any) -> tuple[int, Any]:
            async with http.request(method, f"{api}{path}", json=body) as resp:
                return resp.status, await resp.json()

        _, tenant = await call("POST", "/tenants", {"name": "Bybit spot desk"})
        status, account = await call("POST", "/accounts", {
            "tenant_id": tenant["id"], "name": "Bybit spot", "broker": "bybit",
            "exchange": keys})
        assert status == 201, account  # spot is offered on Bybit
        _, made = await call("POST", "/strategies", {
            "tenant_id": tenant["id"], "account_id": account["id"], "name": "Bybit spot",
            "sizing_mode": "alert_contracts"})
        registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
        strategy = await registry.strategy(made["strategy"]["id"])
        assert strategy is not None
    bybit.faults.fail_next("POST /v5/order/create", "503")
    alert = {"alertId": "bybit-spot-1", "action": "buy", "symbol": "BYBIT:ETHUSDT",
             "quantity": "0.25", "price": "3000", "stopLoss": "2900", "takeProfit": "3300"}
    async with aiohttp.ClientSession() as http:
        entry = await post_once_known(http, system.webhook_url(strategy), alert)
    done = await tap.wait_terminal(entry["signal_id"])
    assert isinstance(done, TradeExecuted), done
    assert (done.broker, done.fill.symbol, done.fill.quantity) == (
        "bybit", "ETH/USDT", Decimal("0.25"))
    assert bybit.spot["ETH"] == Decimal("0.25") and bybit.positions == {}

    def legs() -> list[dict[str, Any]]:
        return [o for o in bybit.orders.values() if o["side"] == "Sell"]
    await wait_until(lambda: len(legs()) == 2, timeout=20, message="both legs at Bybit")
    assert {o["category"] for o in bybit.orders.values()} == {"spot"}
    assert sorted((o["orderType"], str(o["triggerPrice"] or o["price"]), str(o["qty"]))
                  for o in legs()) == [("Limit", "3300", "0.25"), ("Market", "2900", "0.25")]
    bybit.set_price("ETHUSDT", 2890)  # the stop sells the coins; the take-profit goes
    await tap.wait_for(lambda evs: [e for e in evs if isinstance(e, LegCanceled)
                                    and e.signal_id == entry["signal_id"]], timeout=40)
    assert bybit.spot["ETH"] == 0
    assert sorted(o["orderStatus"] for o in legs()) == ["Cancelled", "Filled"]
    await orders_forgotten(bus, account["id"])  # before this test's fake Bybit goes away


async def test_perpetual_entry_and_exit_reach_binance_once_with_their_trail(
        binance: FakeBinance, system: System, bus: Bus, tap: EventTap) -> None:
    t = await binance_strategy(bus, binance, "perp")
    url = system.webhook_url(t.strategy)
    # Binance takes the entry, then the connection drops before it answers.
    binance.faults.fail_next("POST /fapi/v1/order", "accept_then_drop")
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, url, tv_alert(
            symbol="BINANCE:BTCUSDT.P", contracts="0.0123", price="60000"))
        done = await tap.wait_terminal(entry["signal_id"])
        assert isinstance(done, TradeExecuted), done
        assert (done.broker, done.fill.symbol, done.fill.quantity) == (
            "binance", "BTC/USDT", Decimal("0.012"))  # the market's 0.001 step
        sent = [o for o in binance.created if o.get("newClientOrderId")]
        # Our id, or its digest where it is longer than Binance's 36 characters.
        assert [o["newClientOrderId"] for o in sent] == [
            venue_client_id(done.fill.client_order_id, VENUES["binance"].client_ids)]
        assert (sent[0]["symbol"], sent[0]["quantity"]) == ("BTCUSDT", "0.012")
        assert (binance.leverage["BTCUSDT"], binance.margin_type["BTCUSDT"]) == (5, "isolated")
        events = await trail(http, system, entry["signal_id"], "webhook.trade_executed")
        assert {"webhook.received", "webhook.validated", "order.requested"} <= \
            {e["type"] for e in events}

        _, exit_ = await post_json(http, url, tv_alert(
            symbol="BINANCE:BTCUSDT.P", action="sell", contracts="0.012", price="61000"))
        closed = await tap.wait_terminal(exit_["signal_id"])
        assert isinstance(closed, TradeExecuted), closed
        assert closed.fill.side == "sell"
    assert binance.created[-1]["reduceOnly"] == "true"
    assert "BTCUSDT" not in binance.positions


async def test_spot_buy_fills_and_refusals_end_in_webhook_failed(
        binance: FakeBinance, system: System, bus: Bus, tap: EventTap) -> None:
    t = await binance_strategy(bus, binance, "spot")
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        _, bought = await post_json(http, url, tv_alert(
            symbol="BINANCE:ETHUSDT", contracts="0.5", price="3000"))
        _, tiny = await post_json(http, url, tv_alert(
            symbol="BINANCE:ETHUSDT", contracts="0.001", price="3000"))
        _, short = await post_json(http, url, tv_alert(
            symbol="BINANCE:BTCUSDT", order_id="sell", action="sell", price="60000"))
        _, stock = await post_json(http, url, tv_alert(symbol="NASDAQ:AAPL", price="190"))
    done = await tap.wait_terminal(bought["signal_id"])
    assert isinstance(done, TradeExecuted), done
    assert (done.fill.symbol, done.fill.quantity) == ("ETH/USDT", Decimal("0.5"))
    assert binance.spot["ETH"] == Decimal("0.5")
    for signal_id, stage, code in ((tiny["signal_id"], "execute", "below_minimum"),
                                   (short["signal_id"], "validate", "no_crypto_shorts"),
                                   (stock["signal_id"], "validate", "asset_not_supported")):
        failed = await tap.wait_terminal(signal_id)
        assert isinstance(failed, WebhookFailed), failed
        assert (failed.stage, failed.code) == (stage, code), failed
    assert len([o for o in binance.created if o.get("newClientOrderId")]) == 1


OKX_SWAP = "BTC-USDT-SWAP"


@pytest.fixture
async def okx() -> AsyncIterator[FakeOkx]:
    """The fake OKX of one test (asked for before ``system``)."""
    server = FakeOkx(hang_seconds=2.0)
    await server.start()
    yield server
    await server.stop()


async def test_an_okx_swap_entry_in_contracts_reaches_okx_once_with_legs_and_trail(
        okx: FakeOkx, system: System, bus: Bus, tap: EventTap) -> None:
    api, headers = f"{system.operator_url}/api/v1", system.admin_headers
    keys = {"api_key": OKX_KEY, "secret": OKX_SECRET, "market": "perp", "leverage": 5,
            "margin_mode": "isolated", "testnet": True, "url_override": okx.url}
    async with aiohttp.ClientSession(headers=headers) as http:
        async def call(method: str, path: str, body: Any) -> tuple[int, Any]:
            async with http.request(method, f"{api}{path}", json=body) as resp:
                return resp.status, await resp.json()

        _, tenant = await call("POST", "/tenants", {"name": "OKX desk"})
        base = {"tenant_id": tenant["id"], "name": "OKX swaps", "broker": "okx"}
        no_passphrase = await call("POST", "/accounts", {**base, "exchange": keys})
        assert (no_passphrase[0], no_passphrase[1]["field"]) == (422, "exchange.password")
        status, account = await call("POST", "/accounts", {
            **base, "exchange": {**keys, "password": OKX_PASSPHRASE}})
        assert status == 201, account
        assert (account["exchange"]["secret"], account["exchange"]["password"]) == (MASK, MASK)
        assert OKX_SECRET not in str(account) and OKX_PASSPHRASE not in str(account)
        _, made = await call("POST", "/strategies", {
            "tenant_id": tenant["id"], "account_id": account["id"], "name": "OKX perps",
            "sizing_mode": "alert_contracts"})
        registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
        stored = await registry.account(account["id"])
        strategy = await registry.strategy(made["strategy"]["id"])
        assert stored is not None and stored.exchange is not None and strategy is not None
        assert (stored.exchange.secret, stored.exchange.password) == (OKX_SECRET,
                                                                      OKX_PASSPHRASE)
        raw = (await registry.kv.get(f"account.{account['id']}")).value or b""
        assert raw and OKX_SECRET.encode() not in raw  # sealed at rest
        assert OKX_PASSPHRASE.encode() not in raw

    # OKX takes the entry, then the connection drops before it answers.
    okx.faults.fail_next("POST /api/v5/trade/order", "accept_then_drop")
    alert = {"alertId": "okx-1", "action": "buy", "symbol": "OKX:BTCUSDT.P",
             "quantity": "0.01234", "price": "60000", "stopLoss": "58000",
             "takeProfit": "63000"}
    async with aiohttp.ClientSession() as http:
        entry = await post_once_known(http, system.webhook_url(strategy), alert)
        done = await tap.wait_terminal(entry["signal_id"])
        assert isinstance(done, TradeExecuted), done
        # 0.01234 BTC is 1.234 contracts of 0.01 BTC: 1.23 at the lot, 0.0123 BTC.
        assert (done.broker, done.fill.symbol, done.fill.quantity) == (
            "okx", "BTC/USDT", Decimal("0.0123"))
        placed = [o for o in okx.created if o["ordType"] == "market"]
        assert [(o["clOrdId"], o["sz"], o["tdMode"]) for o in placed] == [
            (venue_client_id(done.fill.client_order_id, VENUES["okx"].client_ids), "1.23",
             "isolated")]
        assert (okx.positions[OKX_SWAP][0], okx.leverage[OKX_SWAP]) == (Decimal("1.23"),
                                                                ("5", "isolated"))
        assert set(okx.simulated) == {"1"}  # demo trading: testnet
        # The monitor's legs: a reduce-only trigger order and a reduce-only limit.
        await tap.wait_for(lambda _: len([e for e in tap.of_type("order.placed",
                                                                 entry["signal_id"])
                                          if isinstance(e, OrderPlaced) and e.order.leg]) == 2,
                           timeout=30)
        legs = [o for o in okx.orders.values() if o["reduceOnly"]]
        assert sorted((o["ordType"], str(o["triggerPx"] or o["px"]), str(o["sz"]))
                      for o in legs) == [("limit", "63000", "1.23"),
                                         ("trigger", "58000", "1.23")]
        okx.set_price(OKX_SWAP, 57900)  # the stop fires; its take-profit sibling goes
        await tap.wait_for(lambda evs: [e for e in evs if isinstance(e, LegCanceled)
                                        and e.signal_id == entry["signal_id"]], timeout=40)
        assert OKX_SWAP not in okx.positions
        assert sorted(o["state"] for o in legs) == ["canceled", "effective"]

        async def recorded() -> bool:
            nonlocal events
            async with http.get(f"{system.operator_url}/api/v1/signals/{entry['signal_id']}",
                                headers=system.admin_headers) as resp:
                events = (await resp.json()).get("events", []) if resp.status == 200 else []
            return "order.leg_canceled" in {e["type"] for e in events}
        events: list[dict[str, Any]] = []
        await wait_until(recorded, timeout=20, message="the trail to show the legs' end")
        assert {"webhook.received", "webhook.validated", "order.requested",
                "webhook.trade_executed", "order.placed"} <= {e["type"] for e in events}
