"""One request must never take the edge down: ids and credentials of any length.

Before, an id or a key over ~4 KiB became a KV subject over nats-server's line limit;
the server answered ``-ERR``, nats-py closed the connection for good, and ingress
refused every webhook until it was killed. Each of those requests now gets a 4xx
that names the field, and the next webhook is accepted.

The reproductions come first; then a sweep sends ids of every length up to 64 KiB
(powers of two, and one below, at and above every identifier's maximum and the
server's line limits) in every path parameter and query parameter of every route of
the OpenAPI document, and as API keys, bearer secrets and JWTs.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import System, provision

from contracts import identifiers
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]


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


# Every length that matters: powers of two up to 64 KiB, and each side of every
# identifier's maximum, nats-server's 4 KiB control line and aiohttp's 8 KiB line.
_LIMITS = {shape.max_length for shape in vars(identifiers).values()
           if isinstance(shape, identifiers.Shape)} | {4096, 8190}
LENGTHS = sorted({2 ** k for k in range(17)} |
                 {n + d for n in _LIMITS for d in (-1, 0, 1)})


def _operations(document: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """``(method, path, parameters)`` of every operation with a path or query parameter
    (the others have nowhere to put an id; credentials are swept apart)."""
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            params = [p for p in operation.get("parameters", [])
                      if p["in"] in ("path", "query")]
            if params:
                found.append((method.upper(), path, params))
    return found


def _request_of(system: System, path: str, params: list[dict[str, Any]],
                value: str) -> tuple[str, dict[str, str]]:
    """The URL of ``path`` with ``value`` in every path and query parameter."""
    for param in params:
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", value)
    query = {p["name"]: value for p in params if p["in"] == "query"}
    return system.base_for(path) + path, query


def _cpu_s(system: System) -> float:
    """CPU seconds used so far by this test process and every service process."""
    tick = os.sysconf("SC_CLK_TCK")
    total = time.process_time()
    for proc in system.processes.values():
        with open(f"/proc/{proc.pid}/stat") as stat:  # utime and stime, in ticks
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _credentials(value: str) -> list[tuple[str, dict[str, str]]]:
    """``(listener, headers)``: every place a credential of this length can go."""
    jwt_like = f"eyJ{value}.eyJ{value}.{value}"
    return [("operator", {"X-API-Key": f"thk_{value}_x"}),
            ("operator", {"X-API-Key": value}),
            ("operator", {"Authorization": f"Bearer {value}"}),
            ("operator", {"Authorization": f"Bearer {jwt_like}"}),
            ("public", {"X-API-Key": value}),
            ("public", {"Authorization": f"Bearer {value}"}),
            ("public", {"Authorization": f"Bearer {jwt_like}"})]


async def test_ids_of_every_length_on_every_route_get_a_client_error(
        system: System, bus: Bus) -> None:
    """No 5xx for an id of any length anywhere, and the edge keeps accepting webhooks.
    Bounded: about 1,200 requests, under 60 s of CPU (this process and the services)."""
    t = await provision(bus)
    hook = system.webhook_url(t.strategy)
    started, cpu = time.monotonic(), _cpu_s(system)
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async with http.get(f"{system.operator_url}/openapi.json") as resp:
            operations = _operations(await resp.json())
        assert any(path == "/webhook/{tenant}/{slug}" for _, path, _ in operations)
        answered: dict[int, int] = {}
        for length in LENGTHS:
            value = "a" * length
            requests = [(method, *_request_of(system, path, params, value),
                         system.admin_headers, path)
                        for method, path, params in operations]
            for listener, headers in _credentials(value):
                base = system.operator_url if listener == "operator" else system.api_url
                route = "/api/v1/status" if listener == "operator" else "/webhook"
                requests.append(("GET" if listener == "operator" else "POST",
                                 base + route, {}, headers, f"{route} credential"))
            for method, url, query, headers, what in requests:
                # A valid alert body: only the id can be wrong.
                async with http.request(method, url, params=query, headers=headers,
                                        json=tv_alert()) as resp:
                    # Read the head only: the live stream would never end.
                    assert resp.status < 500, (method, what, length, resp.status)
                    answered[resp.status] = answered.get(resp.status, 0) + 1
            await _webhook_accepted(http, system, hook)
    elapsed, used = time.monotonic() - started, _cpu_s(system) - cpu
    print(f"{sum(answered.values())} requests over {len(LENGTHS)} lengths in "
          f"{elapsed:.1f} s ({used:.1f} s CPU, test and services); answers "
          f"{dict(sorted(answered.items()))}")
    assert used < 60, f"the sweep used {used:.1f} s of CPU"
    # Every length reached past the routing into the id checks somewhere.
    assert {400, 401, 404} <= answered.keys(), answered
