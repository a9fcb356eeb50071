"""A webhook becomes a paper fill through six real service processes."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import BACKENDS, EventTap, System, account_projection, provision, wait_until

from contracts.events import TradeExecuted, WebhookFailed
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]


@pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
async def test_alert_becomes_paper_fill_with_audit_trail(system: System, bus: Bus,
                                                         tap: EventTap) -> None:
    t = await provision(bus)
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        status, body = await post_json(http, url, tv_alert(price="200", my_note="kept"))
        assert status == 202, body
        assert body["status"] == "accepted"
        signal_id = body["signal_id"]

        terminal = await tap.wait_terminal(signal_id)
        assert isinstance(terminal, TradeExecuted), terminal
        # 2% of 100,000 at 200 plus 5 bps slippage = 10 shares at 200.10
        assert terminal.fill.quantity == Decimal("10")
        assert terminal.fill.average_price == Decimal("200.100000")
        assert terminal.fill.client_order_id.startswith(f"{t.strategy.slug}-")

        async def trail() -> dict | None:
            async with http.get(f"{system.operator_url}/api/v1/signals/{signal_id}",
                                headers=system.admin_headers) as resp:
                data = await resp.json()
                return data if resp.status == 200 and data["terminal"] else None

        found = await wait_until(trail, message="the stored audit trail")
        types = [e["type"] for e in found["events"]]
        assert types == ["webhook.received", "webhook.validated", "order.requested",
                         "webhook.trade_executed"]
        assert found["status"] == "executed"
        received = found["events"][0]
        assert received["payload"]["my_note"] == "kept"  # users' own fields survive
        assert "token" not in received["payload"]
        assert t.strategy.secret not in json.dumps(found)

        state = await account_projection(system, t.account.id, fills=1)
        assert Decimal(state["cash"]) == Decimal("100000") - Decimal("10") * Decimal("200.1")
        # Marked at the market's last price, the alert's 200 (as the status API and
        # the broker mark it): the slippage paid shows as unrealised P&L.
        assert state["positions"] == [{"symbol": "AAPL", "quantity": "10",
                                       "average_price": "200.100000",
                                       "last_price": "200",
                                       "unrealised_pnl": "-1"}]
        assert Decimal(state["equity"]) == Decimal("100000") - Decimal("1")


async def test_same_alert_twice_gives_one_order(system: System, bus: Bus,
                                                tap: EventTap) -> None:
    t = await provision(bus)
    url = system.webhook_url(t.strategy)
    alert = tv_alert(price="50")
    async with aiohttp.ClientSession() as http:
        first = await post_json(http, url, alert)
        again = await post_json(http, url, alert)
        # A burst of the same alert at once, as a retrying sender might produce.
        burst = await asyncio.gather(*(post_json(http, url, alert) for _ in range(5)))
    assert first[0] == 202
    signal_id = first[1]["signal_id"]
    assert again == (200, {"signal_id": signal_id, "status": "duplicate"})
    assert all(r == (200, {"signal_id": signal_id, "status": "duplicate"}) for r in burst)
    await tap.wait_terminal(signal_id)
    # Let anything a duplicate might have caused reach the stream before counting:
    # a second alert afterwards is processed after any stray work for the first.
    async with aiohttp.ClientSession() as http:
        later = await post_json(http, url, tv_alert(price="51"))
    await tap.wait_terminal(later[1]["signal_id"])
    received = [e for e in tap.of_type("webhook.received") if e.tenant_id == t.tenant.id]
    executed = [e for e in tap.of_type("webhook.trade_executed")
                if e.tenant_id == t.tenant.id]
    assert len(received) == 2
    assert [e.signal_id for e in executed].count(signal_id) == 1
    assert len({e.fill.client_order_id for e in executed}) == 2


async def test_entry_then_exit_realises_profit(system: System, bus: Bus,
                                               tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts")
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, url, tv_alert(contracts="3", price="100"))
        await tap.wait_terminal(entry["signal_id"])
        _, exit_ = await post_json(http, url, tv_alert(action="sell", contracts="3",
                                                       price="110"))
        done = await tap.wait_terminal(exit_["signal_id"])
    assert isinstance(done, TradeExecuted)
    assert done.fill.side == "sell"
    assert done.fill.quantity == Decimal("3")
    assert done.fill.position_quantity == 0
    # bought at 100.05, sold at 109.945 (5 bps slippage each way)
    assert done.fill.realised_pnl == (Decimal("109.945") - Decimal("100.05")) * 3


async def test_refusals_end_in_webhook_failed_with_stage(system: System, bus: Bus,
                                                         tap: EventTap) -> None:
    t = await provision(bus, max_order_notional="1000")
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        _, too_big = await post_json(http, url, tv_alert(price="100"))  # 2% = 2,000 > 1,000
        _, flat_exit = await post_json(http, url, tv_alert(action="sell", price="100"))
    big = await tap.wait_terminal(too_big["signal_id"])
    assert isinstance(big, WebhookFailed)
    assert (big.stage, big.code) == ("risk", "max_order_notional")
    assert big.details == {"rule": "max_order_notional", "limit": "1000", "value": "2000.00"}
    flat = await tap.wait_terminal(flat_exit["signal_id"])
    assert isinstance(flat, WebhookFailed)
    assert (flat.stage, flat.code) == ("risk", "no_position")
    assert "no long position in AAPL" in flat.reason


async def test_exchange_and_propfirm_dialects(system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts")
    url = system.webhook_url(t.strategy)
    exchange = {"alertId": "a-1", "action": "buy", "symbol": "BINANCE:BTCUSDT",
                "price": "60000", "quantity": "0.01"}
    prop_ok = {"tenantId": t.tenant.id, "accountId": t.account.id, "symbol": "EURUSD",
               "action": "buy", "quantity": "1000", "price": "1.08", "signalId": "p-1"}
    prop_wrong = {**prop_ok, "accountId": "someone-elses", "signalId": "p-2"}
    async with aiohttp.ClientSession() as http:
        _, ex = await post_json(http, url, exchange)
        # A different body with the same alertId is the same alert.
        dup = await post_json(http, url, {**exchange, "price": "60001"})
        _, ok = await post_json(http, url, prop_ok)
        _, wrong = await post_json(http, url, prop_wrong)
    assert dup == (200, {"signal_id": ex["signal_id"], "status": "duplicate"})
    filled = await tap.wait_terminal(ex["signal_id"])
    assert isinstance(filled, TradeExecuted)
    assert (filled.fill.symbol, filled.fill.quantity) == ("BTC/USDT", Decimal("0.01"))
    validated = tap.of_type("webhook.validated", ex["signal_id"])[0]
    assert validated.signal.asset_class == "crypto"  # type: ignore[union-attr]
    assert isinstance(await tap.wait_terminal(ok["signal_id"]), TradeExecuted)
    refused = await tap.wait_terminal(wrong["signal_id"])
    assert isinstance(refused, WebhookFailed)
    assert (refused.stage, refused.code) == ("validate", "account_mismatch")


async def test_exit_right_behind_its_entry_is_not_dropped(system: System, bus: Bus,
                                                          tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts")
    url = system.webhook_url(t.strategy)
    # Hold the executor so risk must decide the exit before the entry has filled.
    assert system.terminate("executor") == 0
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, url, tv_alert(contracts="2", price="100"))
        _, exit_ = await post_json(http, url, tv_alert(action="sell", contracts="2",
                                                       price="101"))
    await tap.wait_for(lambda _: tap.of_type("order.requested", exit_["signal_id"]))
    system.start("executor")
    assert isinstance(await tap.wait_terminal(entry["signal_id"]), TradeExecuted)
    closed = await tap.wait_terminal(exit_["signal_id"])
    assert isinstance(closed, TradeExecuted), closed
    assert closed.fill.position_quantity == 0
