"""Signals through the running system to an order at a (fake) Alpaca."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from fakes.alpaca_server import FakeAlpaca
from harness import EventTap, System, Tenancy, provision

from contracts.events import LegFilled, TradeExecuted, WebhookFailed
from libs.registry.models import AlpacaConfig
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]


@pytest.fixture
async def alpaca() -> AsyncIterator[FakeAlpaca]:
    """The fake Alpaca of one test (asked for before ``system``: it outlives the
    test's turn on the shared system)."""
    server = FakeAlpaca(key_id="PKE2E", secret_key="e2e-secret", hang_seconds=2.0)
    await server.start()
    server.set_price("AAPL", "190")
    yield server
    await server.stop()


async def alpaca_strategy(bus: Bus, fake: FakeAlpaca, **fields: object) -> Tenancy:
    config = AlpacaConfig(key_id="PKE2E", secret_key="e2e-secret", url_override=fake.url)
    return await provision(bus, account_fields={"broker": "alpaca", "alpaca": config},
                           **fields)


async def test_alert_becomes_an_alpaca_order_once_even_when_the_answer_is_lost(
        alpaca: FakeAlpaca, system: System, bus: Bus, tap: EventTap) -> None:
    t = await alpaca_strategy(bus, alpaca, sizing_mode="alert_contracts")
    url = system.webhook_url(t.strategy)
    # Alpaca takes the order, then the connection drops before it answers.
    alpaca.fail_next("POST /v2/orders", "accept_then_drop")
    async with aiohttp.ClientSession() as http:
        _, body = await post_json(http, url, tv_alert(contracts="3", price="190"))
    done = await tap.wait_terminal(body["signal_id"])
    assert isinstance(done, TradeExecuted), done
    assert (done.broker, done.fill.quantity) == ("alpaca", Decimal(3))
    assert alpaca.submitted_client_order_ids == [done.fill.client_order_id]
    assert alpaca.order_requests[-1]["client_order_id"] == done.fill.client_order_id


async def test_alpaca_rejection_and_restrictions_end_in_webhook_failed(
        alpaca: FakeAlpaca, system: System, bus: Bus, tap: EventTap) -> None:
    t = await alpaca_strategy(bus, alpaca, sizing_mode="alert_contracts")
    url = system.webhook_url(t.strategy)
    alpaca.fail_next("POST /v2/orders", "reject422", message="asset AAPL is not tradable")
    async with aiohttp.ClientSession() as http:
        _, rejected = await post_json(http, url, tv_alert(price="190"))
        _, forex = await post_json(http, url, tv_alert(symbol="EURUSD", price="1.08"))
        _, gold = await post_json(http, url, tv_alert(symbol="XAUUSD", price="2400"))
        _, crypto_short = await post_json(http, url, tv_alert(
            symbol="BTCUSD", order_id="sell", action="sell", price="60000"))
    failed = await tap.wait_terminal(rejected["signal_id"])
    assert isinstance(failed, WebhookFailed)
    assert (failed.stage, failed.code) == ("execute", "alpaca_422")
    assert "not tradable" in failed.reason
    for signal_id, code in ((forex["signal_id"], "asset_not_supported"),
                            (gold["signal_id"], "asset_not_supported"),
                            (crypto_short["signal_id"], "no_crypto_shorts")):
        refused = await tap.wait_terminal(signal_id)
        assert isinstance(refused, WebhookFailed)
        assert (refused.stage, refused.code) == ("validate", code)
    assert alpaca.submitted_client_order_ids == []


async def test_resting_alpaca_limit_order_ends_its_signal_when_it_fills(
        alpaca: FakeAlpaca, system: System, bus: Bus, tap: EventTap) -> None:
    t = await alpaca_strategy(bus, alpaca, sizing_mode="alert_contracts")
    url = system.webhook_url(t.strategy)
    alert = {"alertId": "alp-lim", "action": "buy", "symbol": "AAPL", "quantity": "2",
             "orderType": "limit", "price": "180"}
    async with aiohttp.ClientSession() as http:
        _, body = await post_json(http, url, alert)
    signal_id = body["signal_id"]
    await tap.wait_for(lambda _: tap.of_type("order.placed", signal_id))
    assert tap.terminal(signal_id) == []
    alpaca.set_price("AAPL", "179")  # the market reaches the limit at Alpaca
    done = await tap.wait_terminal(signal_id)
    assert isinstance(done, TradeExecuted)
    assert done.fill.quantity == Decimal(2)
    assert len(tap.terminal(signal_id)) == 1


async def test_alpaca_entry_gets_an_oco_pair_that_ends_with_the_stop(
        alpaca: FakeAlpaca, system: System, bus: Bus, tap: EventTap) -> None:
    t = await alpaca_strategy(bus, alpaca, sizing_mode="alert_contracts",
                              attach_sl_tp=True, sl_pct="5", tp_pct="10")
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        _, body = await post_json(http, url, tv_alert(contracts="4", price="190"))
    signal_id = body["signal_id"]
    assert isinstance(await tap.wait_terminal(signal_id), TradeExecuted)
    placed = await tap.wait_for(lambda _: [e for e in tap.of_type("order.placed", signal_id)
                                           if e.order.leg])  # type: ignore[union-attr]
    oco = alpaca.order_requests[-1]
    assert (oco["order_class"], oco["client_order_id"]) == (
        "oco", f"{placed[0].order.client_order_id}")  # type: ignore[union-attr]
    assert float(oco["stop_loss"]["stop_price"]) == 180.5  # 190 filled, 5% below
    assert float(oco["take_profit"]["limit_price"]) == 209.0
    alpaca.set_price("AAPL", "180")
    filled = await tap.wait_for(lambda evs: [
        e for e in evs if isinstance(e, LegFilled) and e.signal_id == signal_id])
    assert filled[0].leg == "sl"
    assert filled[0].fill.quantity == Decimal(4)
