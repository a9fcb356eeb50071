"""The admin API: provisioning that works at once, roles, and tenant isolation."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from e2e.helpers import post_json, refused_once_switched_off, tv_alert
from harness import EventTap, System, provision, wait_until

from contracts import streams
from contracts.events import TradeExecuted
from libs.registry.api_keys import ApiKeys
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]


async def call(http: aiohttp.ClientSession, method: str, url: str, key: str | None,
               body: Any = None) -> tuple[int, Any]:
    headers = {"X-API-Key": key} if key else {}
    async with http.request(method, url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_provision_and_trade_through_the_admin_api(system: System, bus: Bus,
                                                         tap: EventTap) -> None:
    keys = ApiKeys(await bus.kv(streams.BUCKET_REGISTRY))
    _, root = await keys.create("admin")
    api = f"{system.operator_url}/api/v1"
    async with aiohttp.ClientSession() as http:
        status, tenant = await call(http, "POST", f"{api}/tenants", root,
                                    {"name": "Acme Capital"})
        assert (status, tenant["id"]) == (201, "acme-capital")
        _, acme_admin = await keys.create("admin", "acme-capital")
        status, account = await call(http, "POST", f"{api}/accounts", acme_admin,
                                     {"tenant_id": "acme-capital", "name": "Paper"})
        assert status == 201
        body = {"tenant_id": "acme-capital", "account_id": account["id"],
                "name": "DynamicGoldBreakout", "sizing_mode": "alert_contracts"}
        status, created = await call(http, "POST", f"{api}/strategies", acme_admin, body)
        assert status == 201, created
        assert created["webhook_url"].endswith("/webhook/acme-capital/dynamic-goldbreakout")
        assert created["tradingview_message"]["token"] == created["secret"]
        assert "secret" not in created["strategy"]
        # A second strategy with the same name gets a collision-safe slug.
        status, twin = await call(http, "POST", f"{api}/strategies", acme_admin, body)
        assert twin["strategy"]["slug"] == "dynamic-goldbreakout-2"

        # The URL works at once.
        url = f"{created['webhook_url']}?token={created['secret']}"
        status, accepted = await post_json(http, url, tv_alert(price="10"))
        assert status == 202, accepted
        assert isinstance(await tap.wait_terminal(accepted["signal_id"]), TradeExecuted)

        # Disabling works at once too: nothing trades from now on.
        sid = created["strategy"]["id"]
        status, _ = await call(http, "POST", f"{api}/strategies/{sid}/disable", acme_admin)
        assert status == 200
        await refused_once_switched_off(http, url, tap, "strategy_disabled")

        updates = await tap.wait_for(lambda _: tap.of_type("registry.strategy_updated"))
        assert updates[0].changes == {"enabled": False}  # type: ignore[union-attr]
        assert created["secret"] not in str(updates)
        status, listed = await call(http, "GET", f"{api}/strategies", acme_admin)
        assert {s["slug"] for s in listed} == {"dynamic-goldbreakout", "dynamic-goldbreakout-2"}
        assert all("secret" not in s for s in listed)


async def test_roles_and_tenant_isolation_on_every_admin_route(system: System,
                                                               bus: Bus) -> None:
    keys = ApiKeys(await bus.kv(streams.BUCKET_REGISTRY))
    _, root = await keys.create("admin")
    api = f"{system.operator_url}/api/v1"
    async with aiohttp.ClientSession() as http:
        for name in ("Alpha", "Beta"):
            assert (await call(http, "POST", f"{api}/tenants", root, {"name": name}))[0] == 201
        _, alpha = await keys.create("admin", "alpha")
        _, beta = await keys.create("admin", "beta")
        _, beta_viewer = await keys.create("viewer", "beta")
        _, account = await call(http, "POST", f"{api}/accounts", alpha,
                                {"tenant_id": "alpha", "name": "A"})
        _, made = await call(http, "POST", f"{api}/strategies", alpha,
                             {"tenant_id": "alpha", "account_id": account["id"], "name": "S"})
        sid = made["strategy"]["id"]
        secret = made["secret"]

        # Another tenant's key: every read and write path says "not found".
        attempts = [
            ("GET", f"{api}/tenants/alpha", None),
            ("GET", f"{api}/strategies/{sid}", None),
            ("PATCH", f"{api}/strategies/{sid}", {"enabled": False}),
            ("POST", f"{api}/strategies/{sid}/disable", None),
            ("POST", f"{api}/strategies/{sid}/rotate", {"overlap_s": 0}),
            ("POST", f"{api}/accounts", {"tenant_id": "alpha", "name": "X"}),
            ("POST", f"{api}/strategies",
             {"tenant_id": "alpha", "account_id": account["id"], "name": "X"}),
        ]
        for method, url, body in attempts:
            status, answer = await call(http, method, url, beta, body)
            assert status == 404, (method, url, status, answer)
            assert secret not in str(answer) and account["id"] not in str(answer)
        for path in ("tenants", "accounts", "strategies"):
            status, listed = await call(http, "GET", f"{api}/{path}", beta)
            assert status == 200
            assert "alpha" not in str(listed)

        # Viewers read but never write; no key, or a wrong one, gets 401.
        assert (await call(http, "GET", f"{api}/strategies", beta_viewer))[0] == 200
        status, answer = await call(http, "POST", f"{api}/accounts", beta_viewer,
                                    {"tenant_id": "beta", "name": "V"})
        assert (status, answer["error"]) == (403, "forbidden")
        assert (await call(http, "POST", f"{api}/tenants", beta, {"name": "Gamma"}))[0] == 403
        assert (await call(http, "GET", f"{api}/strategies", None))[0] == 401
        assert (await call(http, "GET", f"{api}/strategies", "thk_abc_wrong"))[0] == 401
        status, answer = await call(http, "PATCH", f"{api}/strategies/{sid}", alpha,
                                    {"secret": "whsec_mine"})
        assert (status, answer["field"]) == (422, "secret")
        # A strategy can never be pointed at another tenant's account.
        _, beta_account = await call(http, "POST", f"{api}/accounts", beta,
                                     {"tenant_id": "beta", "name": "B"})
        status, answer = await call(http, "PATCH", f"{api}/strategies/{sid}", alpha,
                                    {"account_id": beta_account["id"]})
        assert (status, answer["field"]) == (422, "account_id")
        status, answer = await call(http, "PATCH", f"{api}/strategies/{sid}", alpha,
                                    {"percent_of_equity": "3"})
        assert (status, answer["percent_of_equity"]) == (200, "3")


async def test_operational_routes_are_keyed_and_tenant_scoped(system: System, bus: Bus,
                                                             tap: EventTap) -> None:
    keys = ApiKeys(await bus.kv(streams.BUCKET_REGISTRY))
    t = await provision(bus)
    _, own = await keys.create("viewer", t.tenant.id)
    _, other = await keys.create("admin", "someone-else")
    api = f"{system.operator_url}/api/v1"
    async with aiohttp.ClientSession() as http:
        url = system.webhook_url(t.strategy)
        _, accepted = await post_json(http, url, tv_alert(price="10"))
        await tap.wait_terminal(accepted["signal_id"])
        reads = [f"{api}/signals/{accepted['signal_id']}", f"{api}/accounts/{t.account.id}",
                 f"{api}/status?account_id={t.account.id}"]
        for read in reads:
            assert (await call(http, "GET", read, None))[0] == 401, read
            status, answer = await call(http, "GET", read, other)
            assert status == 404, read
            assert t.account.id not in str(answer) or "no account" in answer["message"]
        # The tenant's own viewer key reads its signal once the auditor stored it.

        async def own_trail() -> bool:
            return (await call(http, "GET", reads[0], own))[0] == 200

        await wait_until(own_trail, message="the tenant's own key to read its trail")
        assert (await call(http, "POST", f"{api}/accounts/{t.account.id}/resume", other))[
            0] == 404
        assert (await call(http, "POST", f"{api}/accounts/{t.account.id}/resume", own))[
            0] == 403  # a viewer
        assert (await call(http, "POST", f"{api}/prices", other,
                           {"symbol": "AAPL", "price": "1"}))[0] == 403
        assert (await call(http, "POST", f"{api}/cleanup", other))[0] == 403
        assert (await call(http, "POST", f"{api}/cleanup", None))[0] == 401


async def test_the_cli_drives_the_admin_api(system: System, bus: Bus) -> None:
    import asyncio
    import json
    import subprocess
    import sys

    from harness import ROOT

    def cli(*args: str) -> tuple[int, object]:
        env = {**system.env(), "TRADEHOOKS_ADMIN_KEY": system.admin_key,
               "TRADEHOOKS_OPERATOR_URL": system.operator_url}
        done = subprocess.run([sys.executable, "-m", "cli.main", *args], env=env,
                              cwd=ROOT, capture_output=True, text=True, timeout=60,
                              check=False)
        return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None

    code, tenant = await asyncio.to_thread(cli, "tenant", "create", "name=Cli Tenant")
    assert code == 0 and tenant["id"] == "cli-tenant"  # type: ignore[index]
    code, account = await asyncio.to_thread(cli, "account", "create", "tenant_id=cli-tenant",
                                            "name=Paper", "starting_cash=5000")
    assert code == 0
    code, made = await asyncio.to_thread(
        cli, "strategy", "create", "tenant_id=cli-tenant",
        f"account_id={account['id']}", "name=GoldBot")  # type: ignore[index]
    assert code == 0 and made["secret"].startswith("whsec_")  # type: ignore[index]
    sid = made["strategy"]["id"]  # type: ignore[index]
    code, updated = await asyncio.to_thread(cli, "strategy", "update", sid, "tp_pct=4")
    assert code == 0 and updated["tp_pct"] == "4"  # type: ignore[index]
    code, disabled = await asyncio.to_thread(cli, "strategy", "disable", sid)
    assert code == 0 and disabled["enabled"] is False  # type: ignore[index]
    code, changed = await asyncio.to_thread(cli, "account", "update", account["id"],  # type: ignore[index]
                                            "fee_bps=3")
    assert code == 0 and changed["fee_bps"] == "3"  # type: ignore[index]
    code, changed = await asyncio.to_thread(cli, "account", "disable", account["id"])  # type: ignore[index]
    assert code == 0 and changed["active"] is False  # type: ignore[index]
    code, changed = await asyncio.to_thread(cli, "tenant", "update", "cli-tenant", "name=Renamed")
    assert code == 0 and changed["name"] == "Renamed"  # type: ignore[index]
    code, changed = await asyncio.to_thread(cli, "tenant", "disable", "cli-tenant")
    assert code == 0 and changed["active"] is False  # type: ignore[index]
    code, missing = await asyncio.to_thread(cli, "strategy", "get", "strat-nope")
    assert code == 1 and missing["error"] == "not_found"  # type: ignore[index]
