"""One request must never take the edge down: ids and credentials of any length.

Before, an id or a key over ~4 KiB became a KV subject over nats-server's line limit;
the server answered ``-ERR``, nats-py closed the connection for good, and ingress
refused every webhook until it was killed. Each of those requests now gets a 4xx
that names the field, and the next webhook is accepted.
"""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import System, provision

from services.runtime.bus import Bus

pytestmark = pytest.mark.e2e


async def _webhook_accepted(http: aiohttp.ClientSession, system: System, url: str) -> None:
    async with http.get(f"{system.api_url}/readyz") as resp:
        assert resp.status == 200, await resp.text()
    async with http.get(f"{system.api_url}/healthz") as resp:
        assert resp.status == 200, await resp.text()
    # A new alert each time (the same body would be a duplicate).
    status, body = await post_json(http, url, tv_alert(comment=uuid.uuid4().hex))
    assert status == 202, body


async def test_the_reproductions_are_refused_and_the_edge_stays_up(system: System,
                                                                   bus: Bus) -> None:
    t = await provision(bus)
    hook = system.webhook_url(t.strategy)
    api = f"{system.operator_url}/api/v1"
    long_ids: list[tuple[str, str, dict[str, str], int, str | None]] = [
        ("GET", f"{api}/status", {"X-API-Key": f"thk_{'a' * 4000}_x"}, 401, None),
        ("GET", f"{api}/status", {"Authorization": f"Bearer {'a' * 4000}"}, 401, None),
        ("GET", f"{api}/strategies/{'s' * 5000}", system.admin_headers, 404, "strategy_id"),
        ("GET", f"{api}/tenants/{'t' * 5000}", system.admin_headers, 404, "tenant_id"),
        ("GET", f"{api}/accounts/{'a' * 5000}", system.admin_headers, 404, "account_id"),
        ("GET", f"{api}/accounts/{'a' * 5000}/config", system.admin_headers, 404,
         "account_id"),
        ("DELETE", f"{api}/apikeys/{'k' * 5000}", system.admin_headers, 404, "key_id"),
        ("GET", f"{api}/signals/{'x' * 5000}", system.admin_headers, 404, "signal_id"),
        ("GET", f"{api}/status?account_id={'a' * 5000}", system.admin_headers, 404,
         "account_id"),
        ("POST", f"{system.api_url}/webhook/{'w' * 5000}", {}, 404, "slug"),
    ]
    async with aiohttp.ClientSession() as http:
        for method, url, headers, expected, field in long_ids:
            async with http.request(method, url, headers=headers, json=tv_alert()) as resp:
                body: dict[str, Any] = await resp.json()
                assert resp.status == expected, (method, url[:80], body)
                if field:
                    assert body.get("field") == field, body
                assert len(await resp.read()) < 1000, "the answer echoed the id"
            await _webhook_accepted(http, system, hook)


async def test_long_ids_in_bodies_are_422_naming_the_field(system: System, bus: Bus) -> None:
    t = await provision(bus)
    api = f"{system.operator_url}/api/v1"
    bodies = [
        ("/tenants", {"name": "x", "id": "t" * 5000}, "id"),
        ("/tenants", {"name": "n" * 5000}, "name"),
        ("/accounts", {"tenant_id": "t" * 5000, "name": "x"}, "tenant_id"),
        ("/accounts", {"tenant_id": t.tenant.id, "name": "x", "id": "a" * 65}, "id"),
        ("/strategies", {"tenant_id": t.tenant.id, "account_id": "a" * 5000, "name": "x"},
         "account_id"),
        ("/strategies", {"tenant_id": "t" * 5000, "account_id": t.account.id, "name": "x"},
         "tenant_id"),
        ("/strategies", {"tenant_id": t.tenant.id, "account_id": t.account.id,
                         "name": "n" * 5000}, "name"),
        ("/apikeys", {"role": "viewer", "tenant_id": "t" * 5000}, "tenant_id"),
    ]
    async with aiohttp.ClientSession(headers=system.admin_headers) as http:
        for path, body, field in bodies:
            status, answer = await post_json(http, f"{api}{path}", body)
            assert (status, answer.get("field")) == (422, field), (path, answer)
    async with aiohttp.ClientSession() as http:
        hook = system.webhook_url(t.strategy)
        await _webhook_accepted(http, system, hook)


async def test_a_signed_webhook_naming_a_long_strategy_keeps_the_edge_up(
        system: System, bus: Bus) -> None:
    """The universal URL looks a signed request's strategy up by name: a name of any
    length must not reach a KV subject."""
    t = await provision(bus)
    headers = {"webhook-id": "w1", "webhook-timestamp": "1", "webhook-signature": "v1,x"}
    async with aiohttp.ClientSession() as http:
        for name in ("n" * 5000, "ü" * 3000):
            status, answer = await post_json(http, f"{system.api_url}/webhook",
                                             {**tv_alert(), "strategy": name},
                                             headers=headers)
            assert status in (401, 422), answer
        hook = system.webhook_url(t.strategy)
        await _webhook_accepted(http, system, hook)
