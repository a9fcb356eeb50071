"""Pre-trade limits on the running system: each refusal names rule, limit and value."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import aiohttp
import pytest
from e2e.helpers import post_json, post_prices, tv_alert
from harness import EventTap, System, provision, wait_until

from contracts import streams
from contracts.events import TradeExecuted, WebhookFailed
from libs.brokers.paper import PaperBroker
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]


async def refused(tap: EventTap, signal_id: str) -> WebhookFailed:
    event = await tap.wait_terminal(signal_id)
    assert isinstance(event, WebhookFailed), event
    assert event.stage == "risk"
    return event


async def test_symbol_daily_count_and_stop_loss_limits(system: System, bus: Bus,
                                                       tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="1",
                        allowed_symbols=["AAPL", "MSFT"], daily_order_limit=2)
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        _, tsla = await post_json(http, url, tv_alert(symbol="TSLA", price="200"))
        _, first = await post_json(http, url, tv_alert(symbol="AAPL", price="100"))
        await tap.wait_terminal(first["signal_id"])
        _, second = await post_json(http, url, tv_alert(symbol="MSFT", price="300"))
        await tap.wait_terminal(second["signal_id"])
        _, third = await post_json(http, url, tv_alert(symbol="AAPL", price="101"))
        # Exits are never limited: they reduce risk.
        _, exit_ = await post_json(http, url, tv_alert(symbol="AAPL", action="sell",
                                                       price="102"))
    symbol = await refused(tap, tsla["signal_id"])
    assert (symbol.code, symbol.details["value"]) == ("allowed_symbols", "TSLA")
    count = await refused(tap, third["signal_id"])
    assert count.details == {"rule": "daily_order_limit", "limit": "2", "value": "3"}
    assert isinstance(await tap.wait_terminal(exit_["signal_id"]), TradeExecuted)

    sl = await provision(bus, require_stop_loss=True)
    sl_url = system.webhook_url(sl.strategy)
    async with aiohttp.ClientSession() as http:
        _, naked = await post_json(http, sl_url, tv_alert(price="100"))
        _, covered = await post_json(http, sl_url, {
            "alertId": "sl-1", "action": "buy", "symbol": "AAPL", "price": "100",
            "quantity": "1", "stopLoss": "95"})
    assert (await refused(tap, naked["signal_id"])).code == "require_stop_loss"
    assert isinstance(await tap.wait_terminal(covered["signal_id"]), TradeExecuted)


async def test_drawdown_from_the_days_starting_equity_stops_new_entries(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="400",
                        max_order_notional=None, max_drawdown_pct="5")
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, url, tv_alert(symbol="ACME", price="100"))
        await tap.wait_terminal(entry["signal_id"])
        # ACME falls 20%: 400 shares bought at 100.05 (5 bps slippage) lose 8,020,
        # 8.02% of the day's 100,000.
        await post_prices(http, system.operator_url, {"symbol": "ACME", "price": "80"},
                          system.admin_key)
        # The price reaches the broker asynchronously: wait until it marks the account.
        paper = PaperBroker(await bus.kv(streams.BUCKET_PAPER), SystemClock(), D(0), D(0),
                            prices=await bus.kv(streams.BUCKET_PRICES))

        async def marked_down() -> bool:
            return (await paper.snapshot(t.account)).equity == D(91_980)

        await wait_until(marked_down, message="the broker to mark ACME at 80")
        _, body = await post_json(http, url, tv_alert(symbol="ZZZ", price="10"))
    failed = await refused(tap, body["signal_id"])
    assert failed.details == {"rule": "max_drawdown_pct", "limit": "5", "value": "8.02"}
    assert failed.code == "max_drawdown_pct"


@pytest.mark.own_system
async def test_two_risk_instances_cannot_both_pass_what_only_fits_once(
        system: System, bus: Bus, tap: EventTap) -> None:
    system.start("risk", instance="risk-2")
    await wait_until(lambda: system.running("risk-2"), message="the second risk instance")
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="6",
                        daily_notional_limit="1000")
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        # Each order is worth 600: either fits the 1,000 daily limit, not both.
        answers = await asyncio.gather(*(
            post_json(http, url, tv_alert(symbol=symbol, price="100"))
            for symbol in ("AAA", "BBB", "CCC", "DDD")))
    outcomes = [await tap.wait_terminal(body["signal_id"]) for _, body in answers]
    executed = [e for e in outcomes if isinstance(e, TradeExecuted)]
    failed = [e for e in outcomes if isinstance(e, WebhookFailed)]
    assert len(executed) == 1
    assert {e.code for e in failed} == {"daily_notional_limit"}


LIMITS = [
    # (strategy settings, alert price, expected rule, expected details value)
    ({"fixed_quantity": "30", "max_order_quantity": "25"}, "10", "max_order_quantity", "30"),
    ({"fixed_quantity": "2", "min_order_quantity": "5"}, "10", "min_order_quantity", "2"),
    ({"fixed_quantity": "2", "min_order_notional": "100"}, "10", "min_order_notional",
     "20.00"),
    ({"fixed_quantity": "30", "max_position_quantity": "20"}, "10", "max_position_quantity",
     "30"),
    ({"fixed_quantity": "30", "max_position_notional": "200"}, "10",
     "max_position_notional", "300.00"),
    ({"fixed_quantity": "700", "max_leverage": "0.5", "max_order_notional": None}, "100",
     "max_leverage", "0.70"),
]


async def test_each_size_and_exposure_limit_trips(system: System, bus: Bus,
                                                  tap: EventTap) -> None:
    async with aiohttp.ClientSession() as http:
        for settings, price, rule, value in LIMITS:
            t = await provision(bus, sizing_mode="fixed_quantity", **settings)
            url = system.webhook_url(t.strategy)
            _, body = await post_json(http, url, tv_alert(price=price))
            failed = await refused(tap, body["signal_id"])
            assert (failed.code, failed.details["rule"], failed.details["value"]) == (
                rule, rule, value), settings


async def test_open_positions_and_inactive_accounts(system: System, bus: Bus,
                                                    tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="1",
                        max_open_positions=1)
    url = system.webhook_url(t.strategy)
    inactive = await provision(bus, account_fields={"active": False})
    inactive_url = system.webhook_url(inactive.strategy)
    async with aiohttp.ClientSession() as http:
        _, first = await post_json(http, url, tv_alert(symbol="AAA", price="10"))
        await tap.wait_terminal(first["signal_id"])
        _, more = await post_json(http, url, tv_alert(symbol="AAA", price="11"))
        await tap.wait_terminal(more["signal_id"])  # adding to an open position is fine
        _, second = await post_json(http, url, tv_alert(symbol="BBB", price="10"))
        _, blocked = await post_json(http, inactive_url, tv_alert(price="10"))
    assert isinstance(tap.terminal(more["signal_id"])[0], TradeExecuted)
    opened = await refused(tap, second["signal_id"])
    assert opened.details == {"rule": "max_open_positions", "limit": "1", "value": "2"}
    refused_inactive = await tap.wait_terminal(blocked["signal_id"])
    assert isinstance(refused_inactive, WebhookFailed)
    assert refused_inactive.code == "account_inactive"
