"""Orders a trader can trust, on the running system with the paper broker.

Each test is one of the reproductions of issue 11 and asserts the book the broker
holds and the projection shows afterwards, not only the events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from fakes.alpaca_server import FakeAlpaca
from harness import (
    EventTap,
    System,
    account_projection,
    account_status,
    add_strategy,
    book_of,
    paper_orders,
    provision,
    tick,
)

from contracts.events import LegCanceled, LegFilled, OrderPlaced
from libs.registry.models import AlpacaConfig, Strategy
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]
D = Decimal


def webhook(system: System, strategy: Strategy) -> str:
    return system.webhook_url(strategy)


async def entry_with_legs(system: System, http: aiohttp.ClientSession, tap: EventTap,
                          strategy: Strategy, symbol: str, price: str) -> str:
    """A long entry whose two legs are resting; its client order id."""
    _, entry = await post_json(http, webhook(system, strategy),
                               tv_alert(symbol=symbol, price=price))
    signal_id = entry["signal_id"]
    await tap.wait_for(lambda evs: len([e for e in evs if isinstance(e, OrderPlaced)
                                        and e.signal_id == signal_id and e.order.leg]) == 2)
    requested = tap.of_type("order.requested", signal_id)[0]
    return requested.order.client_order_id  # type: ignore[union-attr]


async def test_a_stop_loss_fill_leaves_no_take_profit_to_fill_later(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="10",
                        attach_sl_tp=True, sl_pct="1", tp_pct="2")
    async with aiohttp.ClientSession() as http:
        coid = await entry_with_legs(system, http, tap, t.strategy, "PFE", "30")
        await tick(system, bus, "PFE", "29.50")  # through the stop
        await tick(system, bus, "PFE", "31.00")  # through the old take-profit
        await tap.wait_for(lambda evs: any(isinstance(e, LegCanceled) and e.leg == "tp"
                                           and e.account_id == t.account.id for e in evs))
        orders = book_of(await paper_orders(bus, t.account.id))
        assert orders == {coid: ("buy", "10", "filled"), f"{coid}-sl": ("sell", "10", "filled"),
                          f"{coid}-tp": ("sell", "10", "canceled")}
        assert [e.leg for e in tap.events
                if isinstance(e, LegFilled) and e.account_id == t.account.id] == ["sl"]

        projected = await account_projection(system, t.account.id, fills=2)
        assert projected["positions"] == []
        assert (await account_status(system, t.account.id))["positions"] == {}


async def test_a_flip_by_another_strategy_cancels_the_old_legs(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="10",
                        attach_sl_tp=True, sl_pct="1", tp_pct="2")
    flipper = await add_strategy(bus, t, sizing_mode="fixed_quantity",
                                    fixed_quantity="20")
    async with aiohttp.ClientSession() as http:
        coid = await entry_with_legs(system, http, tap, t.strategy, "KO", "30")
        _, short = await post_json(http, webhook(system, flipper.strategy),
                                   tv_alert(symbol="KO", order_id="sell", action="sell",
                                            contracts="20", price="30"))
        await tap.wait_terminal(short["signal_id"])
        await tick(system, bus, "KO", "31.00", "29.00")  # through both old legs
        canceled = await tap.wait_for(lambda evs: len(
            found := [e for e in evs if isinstance(e, LegCanceled)
                      and e.account_id == t.account.id]) == 2 and found)
        orders = book_of(await paper_orders(bus, t.account.id))
        assert orders[f"{coid}-sl"] == orders[f"{coid}-tp"] == ("sell", "10", "canceled")
        assert {e.reason for e in canceled} == {  # type: ignore[union-attr]
            "the position is now short 20 KO: a sell leg would add to it"}
        assert (await account_status(system, t.account.id))["positions"] == {"KO": "-20"}
        assert not [e for e in tap.events
                    if isinstance(e, LegFilled) and e.account_id == t.account.id]


async def test_an_alert_stop_rests_when_the_strategy_requires_one_without_attaching(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts", require_stop_loss=True)
    url = webhook(system, t.strategy)
    async with aiohttp.ClientSession() as http:
        _, refused = await post_json(http, url, {"alertId": "a1", "action": "buy",
                                                 "symbol": "ACME", "price": "100",
                                                 "quantity": "4"})
        failed = await tap.wait_terminal(refused["signal_id"])
        assert (failed.stage, failed.code) == ("risk", "require_stop_loss")  # type: ignore[union-attr]
        _, entry = await post_json(http, url, {"alertId": "a2", "action": "buy",
                                               "symbol": "ACME", "price": "100",
                                               "quantity": "4", "stopLoss": "90"})
        signal_id = entry["signal_id"]
        await tap.wait_terminal(signal_id)
        await tap.wait_for(lambda evs: any(isinstance(e, OrderPlaced) and e.order.leg == "sl"
                                           and e.signal_id == signal_id for e in evs))
        status = await account_status(system, t.account.id)
    assert status["positions"] == {"ACME": "4"}
    (stop,) = status["open_orders"]
    assert (stop["side"], stop["quantity"], stop["order_type"], stop["stop_price"],
            stop["status"]) == ("sell", "4", "stop", "90", "open")


async def test_market_prices_size_new_entries_and_both_apis_agree_on_equity(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus, symbol="XOM")  # 2 % of equity, strategy-routed alerts
    async with aiohttp.ClientSession() as http:
        await tick(system, bus, "XOM", "110")
        _, entry = await post_json(http, webhook(system, t.strategy),
                                   {"strategy": t.strategy.name, "signal": "BUY"})
        executed = await tap.wait_terminal(entry["signal_id"])
        fill = executed.fill  # type: ignore[union-attr]
        # 2 % of 100,000 at the last market price 110.0001, rounded down to 0.0001.
        assert (fill.quantity, fill.average_price) == (D("18.1818"), D("110.055100"))
        await tick(system, bus, "XOM", "120")

        api = await account_projection(system, t.account.id, fills=1)
        status = await account_status(system, t.account.id)
    assert api["equity"] == status["equity"]
    cash = D(100_000) - D("18.1818") * D("110.055100")
    assert D(api["equity"]) == cash + D("18.1818") * D("120.0001")


async def test_cancel_all_then_close_all_sweep_the_whole_account(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts")
    url = webhook(system, t.strategy)
    async with aiohttp.ClientSession() as http:
        for n, (symbol, action) in enumerate((("AAPL", "buy"), ("MSFT", "sell"))):
            _, sent = await post_json(http, url, {"alertId": f"in-{n}", "action": action,
                                                  "symbol": symbol, "price": "100",
                                                  "quantity": "5"})
            await tap.wait_terminal(sent["signal_id"])
        _, resting = await post_json(http, url, {
            "alertId": "rest", "action": "buy", "symbol": "AAPL", "price": "50",
            "quantity": "1", "orderType": "limit"})
        await tap.wait_for(lambda evs: any(isinstance(e, OrderPlaced)
                                           and e.signal_id == resting["signal_id"]
                                           for e in evs))

        _, cancel = await post_json(http, url, {"alertId": "cx", "action": "cancel_all"})
        swept = await tap.wait_terminal(cancel["signal_id"])
        canceled = await tap.wait_terminal(resting["signal_id"])
        assert (canceled.stage, canceled.code) == ("execute", "order_canceled")  # type: ignore[union-attr]
        assert swept.fill is None  # type: ignore[union-attr]
        assert len(swept.canceled) == 1  # type: ignore[union-attr]
        status = await account_status(system, t.account.id)
        assert (status["positions"], status["open_orders"]) == (
            {"AAPL": "5", "MSFT": "-5"}, [])

        _, close = await post_json(http, url, {"alertId": "cl", "action": "close_all"})
        closed = await tap.wait_terminal(close["signal_id"])
        assert sorted((f.symbol, f.side, f.quantity) for f in closed.fills) == [  # type: ignore[union-attr]
            ("AAPL", "sell", D(5)), ("MSFT", "buy", D(5))]
        assert (await account_status(system, t.account.id))["positions"] == {}

        projected = await account_projection(system, t.account.id, fills=4)
        assert projected["positions"] == []


@pytest.fixture
async def fake_alpaca() -> AsyncIterator[FakeAlpaca]:
    """Asked for before ``system``, so it stops after the services that call it."""
    fake = FakeAlpaca(key_id="PKFLIP", secret_key="flip-secret")
    await fake.start()
    fake.set_price("AAPL", "190")
    yield fake
    await fake.stop()


@pytest.mark.own_system
async def test_at_alpaca_a_flip_by_another_strategy_cancels_the_oco_leg(
        fake_alpaca: FakeAlpaca, system: System, bus: Bus, tap: EventTap) -> None:
    config = AlpacaConfig(key_id="PKFLIP", secret_key="flip-secret",
                          url_override=fake_alpaca.url)
    t = await provision(bus, account_fields={"broker": "alpaca", "alpaca": config},
                        sizing_mode="alert_contracts", attach_sl_tp=True, sl_pct="5",
                        tp_pct="10")
    flipper = await add_strategy(bus, t, sizing_mode="alert_contracts")
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, webhook(system, t.strategy),
                                   tv_alert(contracts="4", price="190"))
        await tap.wait_for(lambda evs: any(
            isinstance(e, OrderPlaced) and e.signal_id == entry["signal_id"]
            and e.order.leg for e in evs))
        _, short = await post_json(http, webhook(system, flipper.strategy),
                                   tv_alert(order_id="sell", action="sell",
                                            contracts="6", price="190"))
        await tap.wait_terminal(short["signal_id"])
        canceled = await tap.wait_for(lambda evs: [
            e for e in evs if isinstance(e, LegCanceled) and e.signal_id == entry["signal_id"]])
        # The old sell take-profit at 209 is gone: a rally cannot sell more.
        fake_alpaca.set_price("AAPL", "215")
        status = await account_status(system, t.account.id)
    assert status["positions"] == {"AAPL": "-6"}
    assert status["open_orders"] == []
    assert canceled[0].reason == (  # type: ignore[union-attr]
        "the position is now short 6 AAPL: a sell leg would add to it")
    assert not [e for e in tap.events if isinstance(e, LegFilled)]
