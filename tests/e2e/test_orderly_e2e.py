"""The KEK DEX seed's alerts (the exchange-style "002" alert: ``action`` buy / sell /
close, ``BTC-PERP``, ``stopLoss``, ``takeProfit``) through the running system to
orders at a (fake) Orderly Network, every request signed with the account's ed25519
Orderly key and checked by the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from e2e.helpers import orders_forgotten, post_json, post_once_known
from fakes.orderly_server import ACCOUNT_ID, FakeOrderly
from harness import EventTap, System, Tenancy, master_box, provision

from contracts import streams
from contracts.events import LegCanceled, OrderPlaced, TradeExecuted
from libs.registry.models import ExchangeConfig
from libs.registry.store import Registry
from libs.registry.views import MASK
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]
PERP = "PERP_BTC_USDC"


@pytest.fixture
async def orderly() -> AsyncIterator[FakeOrderly]:
    """The fake Orderly of one test (asked for before ``system``)."""
    server = FakeOrderly(hang_seconds=2.0)
    await server.start()
    yield server
    await server.stop()


async def orderly_strategy(bus: Bus, fake: FakeOrderly, **fields: object) -> Tenancy:
    config = ExchangeConfig(api_key=fake.key, secret=fake.secret, account_id=ACCOUNT_ID,
                            market="perp", leverage=10, url_override=fake.url)
    return await provision(bus, account_fields={"broker": "orderly", "exchange": config},
                           sizing_mode="alert_contracts", **fields)


def alert_002(action: str, **fields: Any) -> dict[str, Any]:
    """The KEK DEX seed's alert as its TradingView message renders it."""
    return {"alertId": f"kek-{action}-{fields.pop('n', 1)}", "action": action,
            "symbol": "BTC-PERP", **fields}


async def test_002_alert_opens_protects_and_closes_an_orderly_perpetual(
        orderly: FakeOrderly, system: System, bus: Bus, tap: EventTap) -> None:
    t = await orderly_strategy(bus, orderly)
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, url, alert_002(
            "buy", quantity="0.0123", price="60000", stopLoss="57000", takeProfit="64000"))
        done = await tap.wait_terminal(entry["signal_id"])
        assert isinstance(done, TradeExecuted), done
        assert (done.broker, done.fill.symbol, done.fill.quantity) == (
            "orderly", "BTC-PERP", Decimal("0.0123"))
        assert orderly.positions[PERP][0] == Decimal("0.0123")
        assert orderly.leverage == 10
        # The monitor's legs at Orderly: a reduce-only stop (an algo order) and a
        # reduce-only take-profit limit, both of the whole position.
        await tap.wait_for(lambda _: len([e for e in tap.of_type("order.placed",
                                                                 entry["signal_id"])
                                          if isinstance(e, OrderPlaced) and e.order.leg]) == 2)
        legs = {o["client_order_id"]: o for o in orderly.orders.values() if o["reduce_only"]}
        stop = next(o for o in legs.values() if o["algo"])
        limit = next(o for o in legs.values() if not o["algo"])
        assert (stop["trigger_price"], stop["quantity"], stop["side"]) == (
            Decimal(57000), Decimal("0.0123"), "SELL")
        assert (limit["price"], limit["type"], limit["side"]) == (Decimal(64000), "LIMIT", "SELL")

        _, close = await post_json(http, url, alert_002("close", n=2, price="61000"))
        closed = await tap.wait_terminal(close["signal_id"])
        assert isinstance(closed, TradeExecuted), closed
        assert (closed.fill.side, closed.fill.quantity) == ("sell", Decimal("0.0123"))
        assert PERP not in orderly.positions
        # Flat: the legs are cancelled at Orderly, and the executor says so.
        ended = await tap.wait_for(lambda evs: [
            e for e in evs if isinstance(e, LegCanceled) and e.signal_id == entry["signal_id"]]
            if len([e for e in evs if isinstance(e, LegCanceled)
                    and e.signal_id == entry["signal_id"]]) == 2 else [])
        assert {e.leg for e in ended} == {"sl", "tp"}  # type: ignore[attr-defined]
        assert all(o["status"] == "CANCELLED" for o in legs.values())
        # ... and has forgotten them (its order sync stops asking this fake venue).
        await orders_forgotten(bus, t.account.id)

        async with http.get(f"{system.operator_url}/api/v1/signals/{entry['signal_id']}",
                            headers=system.admin_headers) as resp:
            trail = (await resp.json())["events"]
    assert {"webhook.received", "webhook.validated", "order.requested",
            "webhook.trade_executed"} <= {e["type"] for e in trail}
    assert orderly.signed_requests > 0


async def test_002_sell_opens_a_short_and_a_lost_answer_places_it_once(
        orderly: FakeOrderly, system: System, bus: Bus, tap: EventTap) -> None:
    t = await orderly_strategy(bus, orderly)
    url = system.webhook_url(t.strategy)
    orderly.faults.fail_next("POST /v1/order", "accept_then_drop")
    async with aiohttp.ClientSession() as http:
        _, short = await post_json(http, url, alert_002("sell", quantity="0.5", price="3000")
                                   | {"symbol": "ETH-PERP"})
    done = await tap.wait_terminal(short["signal_id"])
    assert isinstance(done, TradeExecuted), done
    assert (done.fill.symbol, done.fill.side) == ("ETH-PERP", "sell")
    assert orderly.positions["PERP_ETH_USDC"][0] == Decimal("-0.5")
    assert len(orderly.created) == 1


async def test_an_orderly_account_registered_through_the_admin_api_trades(
        orderly: FakeOrderly, system: System, bus: Bus, tap: EventTap) -> None:
    api, headers = f"{system.operator_url}/api/v1", system.admin_headers
    keys = {"api_key": orderly.key, "secret": orderly.secret, "account_id": ACCOUNT_ID,
            "market": "perp", "leverage": 3, "testnet": True, "url_override": orderly.url}
    async with aiohttp.ClientSession(headers=headers) as http:
        async def call(method: str, path: str, body: Any) -> tuple[int, Any]:
            async with http.request(method, f"{api}{path}", json=body) as resp:
                return resp.status, await resp.json()

        _, tenant = await call("POST", "/tenants", {"name": "KEK DEX"})
        base = {"tenant_id": tenant["id"], "name": "Orderly", "broker": "orderly"}
        missing = await call("POST", "/accounts", base)
        no_account_id = await call("POST", "/accounts", {
            **base, "exchange": {**keys, "account_id": ""}})
        no_passphrase = await call("POST", "/accounts", {**base, "broker": "okx",
                                                         "exchange": keys})
        assert [m[0] for m in (missing, no_account_id, no_passphrase)] == [422, 422, 422]
        assert [m[1]["field"] for m in (missing, no_account_id, no_passphrase)] == [
            "exchange", "exchange", "exchange.password"]
        status, account = await call("POST", "/accounts", {**base, "exchange": keys})
        assert status == 201, account
        assert account["exchange"]["secret"] == MASK
        assert orderly.secret not in str(account)
        # A PATCH that sends the mask back keeps the stored key.
        status, patched = await call("PATCH", f"/accounts/{account['id']}", {
            "exchange": {**keys, "secret": MASK, "leverage": 4}})
        assert status == 200, patched
        _, made = await call("POST", "/strategies", {
            "tenant_id": tenant["id"], "account_id": account["id"], "name": "KEK seed",
            "sizing_mode": "alert_contracts"})
        registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
        stored = await registry.account(account["id"])
        strategy = await registry.strategy(made["strategy"]["id"])
        assert stored is not None and stored.exchange is not None and strategy is not None
        assert (stored.exchange.secret, stored.exchange.leverage) == (orderly.secret, 4)

    async with aiohttp.ClientSession() as http:
        entry = await post_once_known(http, system.webhook_url(strategy),
                                      alert_002("buy", quantity="0.001", price="60000"))
    done = await tap.wait_terminal(entry["signal_id"])
    assert isinstance(done, TradeExecuted), done
    assert (done.broker, orderly.leverage) == ("orderly", 4)
