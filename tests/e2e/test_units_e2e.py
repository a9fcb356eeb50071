"""Units that cannot invite disaster, through the running system: every percentage is
a percent, out-of-range settings and prices are a 422 naming the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import EventTap, System, provision

from contracts.events import TradeExecuted
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]


async def _call(http: aiohttp.ClientSession, method: str, url: str, system: System,
                body: Any) -> tuple[int, Any]:
    async with http.request(method, url, json=body, headers=system.admin_headers) as resp:
        return resp.status, await resp.json()


async def test_breaker_and_strategy_settings_take_percent_and_refuse_the_rest(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus)
    api = f"{system.operator_url}/api/v1"
    account_url, strategy_url = f"{api}/accounts/{t.account.id}", \
        f"{api}/strategies/{t.strategy.id}"
    refused = [
        # The old fraction habit: a take-profit of 1.2 (% of base equity) would trip at
        # once; a stop of 0.9 % could never protect anything.
        (account_url, {"breaker": {"base_equity": "100000", "global_sl_pct": "90",
                                   "global_tp_pct": "1.2"}}, "breaker.global_tp_pct"),
        (account_url, {"breaker": {"base_equity": "100000", "global_sl_pct": "0.9"}},
         "breaker.global_sl_pct"),
        # A stop at 100 % of base equity (or above the take-profit) trips at once.
        (account_url, {"breaker": {"base_equity": "100000", "global_sl_pct": "100"}},
         "breaker.global_sl_pct"),
        (account_url, {"breaker": {"base_equity": "100000", "global_sl_pct": "95",
                                   "global_tp_pct": "90"}}, "breaker.global_tp_pct"),
        (account_url, {"fee_bps": "-1"}, "fee_bps"),
        (strategy_url, {"sl_pct": "-1"}, "sl_pct"),
        (strategy_url, {"sl_pct": "150"}, "sl_pct"),
        (strategy_url, {"max_order_notional": "-100"}, "max_order_notional"),
        (strategy_url, {"percent_of_equity": "NaN"}, "percent_of_equity"),
    ]
    async with aiohttp.ClientSession() as http:
        for url, body, field in refused:
            status, answer = await _call(http, "PATCH", url, system, body)
            assert (status, answer["error"], answer["field"]) == (422, "invalid_field", field), \
                (body, answer)
            assert answer["message"].startswith(f"{field}: ")
        status, created = await _call(http, "POST", f"{api}/strategies", system, {
            "tenant_id": t.tenant.id, "account_id": t.account.id, "name": "Bad",
            "tp_pct": "0"})
        assert (status, created["field"]) == (422, "tp_pct")

        # "90" is 90 % of base equity: stored as a percent, with the unit marked.
        status, account = await _call(http, "PATCH", account_url, system, {"breaker": {
            "base_equity": "100000", "global_sl_pct": "90", "global_tp_pct": "120"}})
        assert status == 200, account
        assert account["breaker"]["units"] == "percent"
        assert Decimal(account["breaker"]["global_sl_pct"]) == 90
        # ... so the account trades on: 90 % of 100,000 is far below its equity.
        url = system.webhook_url(t.strategy)
        _, accepted = await post_json(http, url, tv_alert(symbol="KO", price="60"))
        assert isinstance(await tap.wait_terminal(accepted["signal_id"]), TradeExecuted)
        async with http.get(f"{api}/status?account_id={t.account.id}",
                            headers=system.admin_headers) as resp:
            status_body = await resp.json()
        assert status_body["accounts"][0]["paused"] is False


@pytest.mark.parametrize(("body", "field"), [
    ({"symbol": "XOM", "price": "1e400"}, "price"),
    ({"symbol": "XOM", "price": "1000000000000"}, "price"),
    ({"symbol": "XOM", "price": "Infinity"}, "price"),
    ({"symbol": "XOM", "price": "0"}, "price"),
    ({"prices": [{"symbol": "XOM", "price": "110"}, {"symbol": "KO", "price": "1e13"}]},
     "prices.1.price"),
])
async def test_an_absurd_price_is_refused_naming_the_field(
        system: System, body: dict[str, Any], field: str) -> None:
    async with aiohttp.ClientSession() as http:
        status, answer = await _call(http, "POST", f"{system.operator_url}/api/v1/prices", system,
                                     body)
        assert (status, answer["field"]) == (422, field), answer
        # A JSON number beyond a double is not JSON we read at all.
        async with http.post(f"{system.operator_url}/api/v1/prices",
                             data=b'{"symbol": "XOM", "price": 1e400}',
                             headers={**system.admin_headers,
                                      "Content-Type": "application/json"}) as resp:
            assert resp.status == 400
