"""What one tenant's admin can learn or undo: no existence oracle in chosen ids, and a
suspension by a global admin that only a global admin lifts."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from e2e.helpers import post_json, refused_once_switched_off, tv_alert
from harness import EventTap, System, provision, wait_until

from contracts import streams
from libs.registry.api_keys import ApiKeys
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]


async def call(http: aiohttp.ClientSession, method: str, url: str, key: str,
               body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body, headers={"X-API-Key": key}) as resp:
        return resp.status, await resp.json()


async def test_creating_an_id_another_tenant_uses_answers_as_a_free_one(
        system: System, bus: Bus) -> None:
    keys = ApiKeys(await bus.kv(streams.BUCKET_REGISTRY))
    api = f"{system.operator_url}/api/v1"
    async with aiohttp.ClientSession() as http:
        # Tenant ids may contain '-': "alpha" and "alpha-x" are two tenants.
        for name in ("Alpha", "Alpha X", "Beta"):
            assert (await call(http, "POST", f"{api}/tenants", system.admin_key,
                               {"name": name}))[0] == 201
        _, alpha = await keys.create("admin", "alpha")
        _, alpha_x = await keys.create("admin", "alpha-x")
        _, beta = await keys.create("admin", "beta")
        status, made = await call(http, "POST", f"{api}/accounts", alpha_x,
                                  {"tenant_id": "alpha-x", "id": "alpha-x-books",
                                   "name": "Books"})
        assert (status, made["id"]) == (201, "alpha-x-books"), made
        status, made = await call(http, "POST", f"{api}/accounts", beta,
                                  {"tenant_id": "beta", "id": "beta-main", "name": "Main"})
        assert status == 201, made

        # Alpha's key, trying ids that exist in other tenants and ids that exist
        # nowhere: the same answer, word for word.
        async def attempt(account_id: str) -> tuple[int, Any]:
            return await call(http, "POST", f"{api}/accounts", alpha,
                              {"tenant_id": "alpha", "id": account_id, "name": "X"})

        taken = [await attempt(i) for i in ("alpha-x-books", "beta-main")]
        free = [await attempt(i) for i in ("alpha-x-nothing", "beta-nothing")]
        assert taken == free
        assert all(status == 422 and answer["field"] == "id" for status, answer in taken)
        assert "books" not in str(taken) and "main" not in str(taken)

        # In its own namespace a tenant makes its ids, and its own conflicts are 409.
        assert (await attempt("alpha-main"))[0] == 201
        status, answer = await attempt("alpha-main")
        assert (status, answer["error"]) == (409, "exists")
        # A global admin cannot take an id out of a tenant's namespace for another.
        status, answer = await call(http, "POST", f"{api}/accounts", system.admin_key,
                                    {"tenant_id": "beta", "id": "alpha-spare", "name": "S"})
        assert (status, answer["field"]) == (422, "id")
        # Nor may anyone plant the suspension mark.
        status, answer = await call(http, "POST", f"{api}/accounts", alpha,
                                    {"tenant_id": "alpha", "name": "S", "suspended": True})
        assert (status, answer["field"]) == (422, "suspended")


async def test_a_suspension_by_a_global_admin_is_final(system: System, bus: Bus,
                                                      tap: EventTap) -> None:
    keys = ApiKeys(await bus.kv(streams.BUCKET_REGISTRY))
    t = await provision(bus)
    _, own = await keys.create("admin", t.tenant.id)
    root = system.admin_key
    api = f"{system.operator_url}/api/v1"
    account, strategy = f"{api}/accounts/{t.account.id}", f"{api}/strategies/{t.strategy.id}"
    hook = f"{system.api_url}/webhook/{t.strategy.slug}?token={t.strategy.secret}"
    async with aiohttp.ClientSession() as http:
        # A tenant's admin may switch its own records off and on again.
        assert (await call(http, "POST", f"{strategy}/disable", own))[0] == 200
        status, answer = await call(http, "PATCH", strategy, own, {"enabled": True})
        assert (status, answer["enabled"], answer["suspended"]) == (200, True, False)

        # Switched off by a global admin: the tenant's admin cannot switch them on.
        for url, on in ((account, {"active": True}), (strategy, {"enabled": True})):
            status, answer = await call(http, "POST", f"{url}/disable", root)
            assert (status, answer["suspended"]) == (200, True)
            status, answer = await call(http, "PATCH", url, own, on)
            assert (status, answer["error"]) == (403, "suspended"), answer
            assert "global admin" in answer["message"]
            # Changing other settings is still the tenant's business, and keeps it off.
            status, answer = await call(http, "PATCH", url, own, {"name": "Renamed"})
            (switch,) = on
            assert (status, answer[switch], answer["suspended"]) == (200, False, True)
            status, answer = await call(http, "PATCH", url, own, {"suspended": False})
            assert (status, answer["field"]) == (422, "suspended")
        await refused_once_switched_off(http, hook, tap, "strategy_disabled")
        # A global admin lifts it.
        for url, on in ((account, {"active": True}), (strategy, {"enabled": True})):
            status, answer = await call(http, "PATCH", url, root, on)
            assert (status, answer["suspended"]) == (200, False), answer


        async def accepted() -> bool:  # ingress hears of the change through its watch
            return (await post_json(http, hook, tv_alert(price="11")))[0] == 202

        await wait_until(accepted, timeout=10, message="ingress to take alerts again")


async def test_a_disabled_tenants_keys_only_read(system: System, bus: Bus) -> None:
    keys = ApiKeys(await bus.kv(streams.BUCKET_REGISTRY))
    t = await provision(bus)
    _, own = await keys.create("admin", t.tenant.id)
    api = f"{system.operator_url}/api/v1"
    async with aiohttp.ClientSession() as http:
        assert (await call(http, "POST", f"{api}/tenants/{t.tenant.id}/disable",
                           system.admin_key))[0] == 200
        writes = [
            ("POST", f"{api}/apikeys", {"role": "admin", "tenant_id": t.tenant.id}),
            ("PATCH", f"{api}/strategies/{t.strategy.id}", {"percent_of_equity": "3"}),
            ("POST", f"{api}/strategies/{t.strategy.id}/rotate", {"overlap_s": 0}),
            ("POST", f"{api}/strategies", {"tenant_id": t.tenant.id,
                                           "account_id": t.account.id, "name": "New"}),
            ("POST", f"{api}/accounts", {"tenant_id": t.tenant.id, "name": "New"}),
            ("PATCH", f"{api}/accounts/{t.account.id}", {"fee_bps": "2"}),
            ("POST", f"{api}/accounts/{t.account.id}/resume", None),
        ]
        for method, url, body in writes:
            status, answer = await call(http, method, url, own, body)
            assert (status, answer["error"]) == (403, "tenant_disabled"), (method, url)
            assert "can only read" in answer["message"]
        reads = [f"{api}/strategies", f"{api}/accounts/{t.account.id}/config",
                 f"{api}/tenants/{t.tenant.id}", f"{api}/apikeys"]
        for url in reads:
            assert (await call(http, "GET", url, own))[0] == 200, url
        # Re-activated by a global admin, the same key writes again.
        assert (await call(http, "PATCH", f"{api}/tenants/{t.tenant.id}", system.admin_key,
                           {"active": True}))[0] == 200
        assert (await call(http, "PATCH", f"{api}/strategies/{t.strategy.id}", own,
                           {"percent_of_equity": "3"}))[0] == 200
