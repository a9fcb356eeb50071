"""Order types, sizing modes and flips through the running system (paper broker)."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest
from e2e.helpers import post_json, post_prices, tv_alert
from harness import EventTap, System, provision

from contracts.events import OrderPlaced, TradeExecuted, WebhookFailed
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]


async def test_limit_order_rests_then_fills_when_the_price_crosses(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts")
    url = system.webhook_url(t.strategy)
    alert = {"alertId": "lim-1", "action": "buy", "symbol": "AAPL", "quantity": "4",
             "orderType": "limit", "price": "95"}
    async with aiohttp.ClientSession() as http:
        # The market is at 100: a buy limit at 95 must rest.
        prices = (http, system.operator_url)
        key = system.admin_key
        assert await post_prices(*prices, {"symbol": "AAPL", "price": "100"}, key) == 202
        _, body = await post_json(http, url, alert)
        signal_id = body["signal_id"]
        placed = await tap.wait_for(lambda _: tap.of_type("order.placed", signal_id))
        assert isinstance(placed[0], OrderPlaced)
        assert placed[0].order.status == "open"
        assert placed[0].order.limit_price == Decimal("95")
        assert tap.terminal(signal_id) == []

        # A price above the limit changes nothing; one at or below fills it.
        assert await post_prices(*prices, {"prices": [{"symbol": "AAPL", "price": "96"},
                                                      {"symbol": "MSFT", "price": "90"}]},
                                 key) == 202
        assert await post_prices(*prices, {"symbol": "AAPL", "price": "94.5"}, key) == 202
        done = await tap.wait_terminal(signal_id)
    assert isinstance(done, TradeExecuted)
    assert (done.fill.quantity, done.fill.average_price) == (Decimal("4"), Decimal("94.5"))
    assert len(tap.terminal(signal_id)) == 1


async def test_stop_entry_fills_on_the_next_alert_price(system: System, bus: Bus,
                                                        tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="2",
                        order_type="stop", limit_offset_ticks=10)
    url = system.webhook_url(t.strategy)
    other = await provision(bus)  # another strategy whose alerts carry prices
    other_url = system.webhook_url(other.strategy)
    async with aiohttp.ClientSession() as http:
        # Stop at 50 + 10 ticks = 50.10, resting above the market.
        _, stop = await post_json(http, url, tv_alert(symbol="XYZ", price="50"))
        await tap.wait_for(lambda _: tap.of_type("order.placed", stop["signal_id"]))
        _, below = await post_json(http, other_url, tv_alert(symbol="XYZ", price="50.05"))
        await tap.wait_terminal(below["signal_id"])
        assert tap.terminal(stop["signal_id"]) == []
        _, above = await post_json(http, other_url, tv_alert(symbol="XYZ", price="50.20"))
        await tap.wait_terminal(above["signal_id"])
    done = await tap.wait_terminal(stop["signal_id"])
    assert isinstance(done, TradeExecuted)
    assert done.fill.quantity == Decimal("2")
    assert done.fill.average_price == Decimal("50.225100")  # 50.20 + 5 bps slippage


async def test_short_entry_while_long_flips_in_one_decision(system: System, bus: Bus,
                                                            tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts")
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        _, long_ = await post_json(http, url, tv_alert(contracts="3", price="100"))
        await tap.wait_terminal(long_["signal_id"])
        _, short = await post_json(http, url, tv_alert(order_id="sell", action="sell",
                                                       contracts="2", price="100"))
        flip = await tap.wait_terminal(short["signal_id"])
    assert isinstance(flip, TradeExecuted)
    order = tap.of_type("order.requested", short["signal_id"])[0].order  # type: ignore[union-attr]
    assert (order.quantity, order.close_quantity, order.side) == (Decimal(5), Decimal(3), "sell")
    assert flip.fill.position_quantity == Decimal(-2)


async def test_fractional_and_notional_sizing(system: System, bus: Bus,
                                              tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="notional", notional="1000",
                        quantity_step="0.001")
    url = system.webhook_url(t.strategy)
    tiny = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="0.00001",
                           quantity_step="0.0001")
    tiny_url = system.webhook_url(tiny.strategy)
    async with aiohttp.ClientSession() as http:
        _, body = await post_json(http, url, tv_alert(symbol="BTCUSD", price="60000"))
        _, zero = await post_json(http, tiny_url, tv_alert(price="10"))
    done = await tap.wait_terminal(body["signal_id"])
    assert isinstance(done, TradeExecuted)
    assert done.fill.symbol == "BTC/USD"
    assert done.fill.quantity == Decimal("0.016")  # 1000 / 60000 = 0.01666… → step 0.001
    refused = await tap.wait_terminal(zero["signal_id"])
    assert isinstance(refused, WebhookFailed)
    assert (refused.stage, refused.code) == ("risk", "size_zero")
