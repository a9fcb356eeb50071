"""Tenants and accounts managed through the admin API, admin keys and admin JWTs, and
the registry rebuilt from the event store alone."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

import aiohttp
import jwt
import pytest
from e2e.helpers import post_json, tv_alert
from harness import ROOT, EventTap, System, provision, wait_until

from contracts import streams
from contracts.events import TradeExecuted, WebhookFailed
from libs.registry.api_keys import ApiKeys
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]
JWT_SECRET = "e2e-admin-jwt-secret-that-is-long-enough"


async def call(http: aiohttp.ClientSession, method: str, url: str, key: str | None,
               body: Any = None, bearer: bool = False) -> tuple[int, Any]:
    headers = {} if key is None else (
        {"Authorization": f"Bearer {key}"} if bearer else {"X-API-Key": key})
    async with http.request(method, url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_disabling_a_tenant_or_account_stops_its_signals_at_once(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus)
    keys = ApiKeys(await bus.kv(streams.BUCKET_REGISTRY))
    _, tenant_admin = await keys.create("admin", t.tenant.id)
    api = f"{system.operator_url}/api/v1"
    hook = system.webhook_url(t.strategy)
    root = system.admin_key
    async with aiohttp.ClientSession() as http:
        # Only a global admin suspends a tenant (its own admins cannot undo it).
        status, _ = await call(http, "POST", f"{api}/tenants/{t.tenant.id}/disable",
                               tenant_admin)
        assert status == 403
        status, tenant = await call(http, "POST", f"{api}/tenants/{t.tenant.id}/disable", root)
        assert (status, tenant["active"]) == (200, False)

        async def refused() -> bool:
            status, answer = await post_json(http, hook, tv_alert(price="10"))
            return status == 403 and answer["error"] == "tenant_disabled"

        await wait_until(refused, timeout=5, message="ingress to refuse the disabled tenant")
        status, tenant = await call(http, "PATCH", f"{api}/tenants/{t.tenant.id}", root,
                                    {"active": True, "rate_limits": {"per_minute": 100}})
        assert (status, tenant["active"], tenant["rate_limits"]["per_minute"]) == \
            (200, True, 100)

        async def accepted() -> dict[str, Any] | None:
            status, answer = await post_json(http, hook, tv_alert(price="11"))
            return answer if status == 202 else None

        first = await wait_until(accepted, timeout=5, message="the tenant to work again")
        assert isinstance(await tap.wait_terminal(first["signal_id"]), TradeExecuted)

        # Accounts: settings change, fixed fields are refused, disabling fails signals.
        acct = f"{api}/accounts/{t.account.id}"
        status, answer = await call(http, "PATCH", acct, tenant_admin, {"broker": "alpaca"})
        assert (status, answer["field"]) == (422, "broker")
        # Broker keys go wherever url_override points: only a global admin sets it.
        aimed = {"alpaca": {"key_id": "k", "secret_key": "s",
                            "url_override": "http://203.0.113.9:8080"}}
        status, answer = await call(http, "PATCH", acct, tenant_admin, aimed)
        assert (status, answer["error"]) == (403, "forbidden")
        status, answer = await call(http, "POST", f"{api}/accounts", tenant_admin,
                                    {"tenant_id": t.tenant.id, "name": "Aimed", **aimed})
        assert status == 403
        status, answer = await call(http, "PATCH", acct, tenant_admin, {"fee_bps": "2.5"})
        assert (status, answer["fee_bps"]) == (200, "2.5")
        status, answer = await call(http, "GET", f"{acct}/config", tenant_admin)
        assert (status, answer["fee_bps"]) == (200, "2.5")
        status, answer = await call(http, "POST", f"{acct}/disable", tenant_admin)
        assert (status, answer["active"]) == (200, False)
        status, sent = await post_json(http, hook, tv_alert(price="12"))
        assert status == 202
        failed = await tap.wait_terminal(sent["signal_id"])
        assert isinstance(failed, WebhookFailed) and failed.code == "account_inactive"

        updates = await tap.wait_for(lambda _: tap.of_type("registry.account_updated"))
        assert {"fee_bps": "2.5"} in [u.changes for u in updates]  # type: ignore[union-attr]
        tenant_updates = tap.of_type("registry.tenant_updated")
        assert [u.changes.get("active") for u in tenant_updates] == [  # type: ignore[union-attr]
            False, True]

        # Another tenant's admin sees none of it.
        _, other = await keys.create("admin", "someone-else")
        for method, url, body in [("PATCH", acct, {"fee_bps": "1"}),
                                  ("POST", f"{acct}/disable", None),
                                  ("GET", f"{acct}/config", None),
                                  ("GET", f"{api}/tenants/{t.tenant.id}", None)]:
            status, answer = await call(http, method, url, other, body)
            # As if the records did not exist: a 404 that names nothing of them.
            assert (status, answer["error"]) == (404, "not_found"), (method, url, answer)
            assert t.account.id not in str(answer) or "no account" in answer["message"]


async def test_admin_keys_are_listed_without_hashes_and_revoked_at_once(
        system: System, bus: Bus) -> None:
    t = await provision(bus)
    api = f"{system.operator_url}/api/v1"
    async with aiohttp.ClientSession() as http:
        status, made = await call(http, "POST", f"{api}/apikeys", system.admin_key,
                                  {"role": "admin", "tenant_id": t.tenant.id})
        assert status == 201 and made["key"].startswith("thk_")
        tenant_key = made["key"]
        # A tenant admin makes keys for its own tenant only.
        status, _ = await call(http, "POST", f"{api}/apikeys", tenant_key, {"role": "admin"})
        assert status == 403
        status, viewer = await call(http, "POST", f"{api}/apikeys", tenant_key,
                                    {"role": "viewer", "tenant_id": t.tenant.id})
        assert status == 201
        status, listed = await call(http, "GET", f"{api}/apikeys", tenant_key)
        assert status == 200
        assert {k["id"] for k in listed} == {made["id"], viewer["id"]}
        assert "key_hash" not in str(listed) and tenant_key not in str(listed)
        status, everything = await call(http, "GET", f"{api}/apikeys", system.admin_key)
        assert {made["id"], viewer["id"]} < {k["id"] for k in everything}
        # The tenant admin cannot revoke a global key; it can revoke its viewer.
        root_id = system.admin_key.removeprefix("thk_").split("_")[0]
        assert (await call(http, "DELETE", f"{api}/apikeys/{root_id}", tenant_key))[0] == 404
        assert (await call(http, "GET", f"{api}/strategies", viewer["key"]))[0] == 200
        status, _ = await call(http, "DELETE", f"{api}/apikeys/{viewer['id']}", tenant_key)
        assert status == 200
        assert (await call(http, "GET", f"{api}/strategies", viewer["key"]))[0] == 401
        assert (await call(http, "DELETE", f"{api}/apikeys/{viewer['id']}", tenant_key))[
            0] == 404


@pytest.mark.own_system
async def test_admin_jwts_carry_role_and_tenant(system: System, bus: Bus) -> None:
    t = await provision(bus)
    other = await provision(bus)
    system.terminate("api")
    system.start("api", TRADEHOOKS_ADMIN_JWT_SECRET=JWT_SECRET)
    await system.wait_ready()

    def token(**claims: Any) -> str:
        return jwt.encode({"sub": "ops@example", "aud": "tradehooks-admin",
                           "exp": int(time.time()) + 120, **claims}, JWT_SECRET,
                          algorithm="HS256")

    api = f"{system.operator_url}/api/v1"
    async with aiohttp.ClientSession() as http:
        viewer = token(role="viewer", tenant=t.tenant.id)
        status, listed = await call(http, "GET", f"{api}/strategies", viewer, bearer=True)
        assert status == 200
        assert [s["id"] for s in listed] == [t.strategy.id]
        assert other.strategy.id not in str(listed)
        status, answer = await call(http, "POST", f"{api}/strategies/{t.strategy.id}/disable",
                                    viewer, bearer=True)
        assert (status, answer["error"]) == (403, "forbidden")
        admin = token(role="admin", tenant=t.tenant.id)
        status, answer = await call(http, "PATCH", f"{api}/strategies/{t.strategy.id}", admin,
                                    {"tp_pct": "5"}, bearer=True)
        assert (status, answer["tp_pct"]) == (200, "5")
        status, _ = await call(http, "GET", f"{api}/strategies/{other.strategy.id}", admin,
                               bearer=True)
        assert status == 404
        expired = token(role="admin", exp=int(time.time()) - 600)
        status, answer = await call(http, "GET", f"{api}/tenants", expired, bearer=True)
        assert status == 401 and "expired" in answer["message"]
        forged = jwt.encode({"sub": "x", "role": "admin", "aud": "tradehooks-admin",
                             "exp": int(time.time()) + 60}, "x" * 40, algorithm="HS256")
        assert (await call(http, "GET", f"{api}/tenants", forged, bearer=True))[0] == 401
        # API keys keep working beside JWTs.
        assert (await call(http, "GET", f"{api}/tenants", system.admin_key))[0] == 200


def _rebuild(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", "rebuild-registry",
                           *args], env=system.env(), cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.own_system
async def test_the_registry_is_rebuilt_from_the_event_store(system: System, bus: Bus,
                                                            tap: EventTap) -> None:
    api = f"{system.operator_url}/api/v1"
    root = system.admin_key
    async with aiohttp.ClientSession() as http:
        _, tenant = await call(http, "POST", f"{api}/tenants", root, {"name": "Rebuilt"})
        _, account = await call(http, "POST", f"{api}/accounts", root,
                                {"tenant_id": tenant["id"], "name": "Paper"})
        _, made = await call(http, "POST", f"{api}/strategies", root,
                             {"tenant_id": tenant["id"], "account_id": account["id"],
                              "name": "Phoenix"})
        sid = made["strategy"]["id"]
        await call(http, "PATCH", f"{api}/strategies/{sid}", root, {"sl_pct": "2"})
        _, rotated = await call(http, "POST", f"{api}/strategies/{sid}/rotate", root,
                                {"overlap_s": 60})
        await call(http, "PATCH", f"{api}/accounts/{account['id']}", root, {"fee_bps": "1"})

        async def stored(trail: str, count: int) -> bool:
            status, body = await call(http, "GET", f"{api}/signals/{trail}", root)
            return status == 200 and len(body["events"]) >= count

        await wait_until(lambda: stored(f"strategy:{sid}", 3), message="strategy trail")
        _, trail = await call(http, "GET", f"{api}/signals/strategy:{sid}", root)
        assert all("record" not in e for e in trail["events"])  # sealed secrets stay in the store
        await wait_until(lambda: stored(f"account:{account['id']}", 2), message="account trail")

        done = await asyncio.to_thread(_rebuild, system)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 differ, 0 missing" in done.stdout
        assert rotated["secret"] not in done.stdout + done.stderr

        # Lose the strategy record (and its indexes) and corrupt the account's fee.
        registry_kv = await bus.kv(streams.BUCKET_REGISTRY)
        for key in await registry_kv.keys():
            if key == f"strategy.{sid}" or key.endswith(f".{sid}") or key.startswith(
                    "idx.token."):
                await registry_kv.delete(key)
        hook = f"{made['webhook_url']}?token={rotated['secret']}"

        async def lost() -> bool:
            return (await post_json(http, hook, tv_alert(price="10")))[0] == 401

        await wait_until(lost, timeout=5, message="ingress to forget the strategy")
        done = await asyncio.to_thread(_rebuild, system)
        assert done.returncode == 1
        assert f"missing: strategy.{sid}" in done.stdout

        done = await asyncio.to_thread(_rebuild, system, "--apply")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "restored" in done.stdout

        async def works_again() -> dict[str, Any] | None:
            status, answer = await post_json(http, hook, tv_alert(price="10"))
            return answer if status == 202 else None

        sent = await wait_until(works_again, timeout=5, message="the restored strategy")
        assert isinstance(await tap.wait_terminal(sent["signal_id"]), TradeExecuted)
        status, strategy = await call(http, "GET", f"{api}/strategies/{sid}", root)
        assert (status, strategy["sl_pct"]) == (200, "2")
        assert (await asyncio.to_thread(_rebuild, system)).returncode == 0
