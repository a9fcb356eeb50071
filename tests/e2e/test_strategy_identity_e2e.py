"""Strategy identity that cannot collide, end to end.

The issue's report: slugs are unique per tenant only, so when another tenant created
a strategy with the same name, the victim's JWT bots got 401 ("the JWT's sub names
no known strategy"), both got the same public URL, failures were counted under no
tenant, and a JWT for one strategy posted to another strategy's URL was accepted
for the first. Now URLs name the tenant, a credential only ever authenticates the
strategy of its URL, and the old URL keeps working for each tenant's own secret.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import aiohttp
import jwt
import pytest
from e2e.helpers import post_json, signed_headers, tv_alert
from harness import EventTap, System, metric_value, provision

from libs.registry.models import slugify
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]


def bearer(secret: str, sub: str, **claims: Any) -> dict[str, str]:
    token = jwt.encode({"sub": sub, "exp": time.time() + 300, **claims}, secret,
                       algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def alert() -> dict[str, Any]:
    return tv_alert(comment=uuid.uuid4().hex)  # a new alert each time, never a duplicate


async def test_another_tenant_with_the_same_slug_breaks_no_bot(system: System, bus: Bus,
                                                               tap: EventTap) -> None:
    name = f"Shared Bot {uuid.uuid4().hex[:6]}"
    ours = await provision(bus, name=name, slug=slugify(name))
    mine = ours.strategy
    api = f"{system.operator_url}/api/v1"
    async with aiohttp.ClientSession() as http:
        # Before: the bot's JWT names its bare slug; it posts to every URL form.
        for url in (f"{system.api_url}/webhook", system.webhook_url(mine, token=False),
                    system.webhook_url(mine, token=False, legacy=True)):
            status, body = await post_json(http, url, alert(),
                                           headers=bearer(mine.secret, mine.slug))
            assert status == 202, (url, body)

        # Another tenant creates a strategy with the same name: the same slug.
        other_tenant = f"other-{uuid.uuid4().hex[:6]}"
        admin = {"headers": system.admin_headers}
        status, _ = await post_json(http, f"{api}/tenants",
                                    {"id": other_tenant, "name": "Other"}, **admin)
        assert status == 201
        status, account = await post_json(http, f"{api}/accounts",
                                          {"tenant_id": other_tenant, "name": "Paper"},
                                          **admin)
        assert status == 201, account
        status, made = await post_json(http, f"{api}/strategies", {
            "tenant_id": other_tenant, "account_id": account["id"], "name": name}, **admin)
        assert status == 201, made
        theirs_slug, theirs_secret = made["strategy"]["slug"], made["secret"]
        assert theirs_slug == mine.slug
        # The URL the API answers names the tenant.
        assert made["webhook_url"] == f"{system.api_url}/webhook/{other_tenant}/{mine.slug}"
        theirs_url = made["webhook_url"]

        # Every bot of ours keeps working: JWT with a bare slug, a tenant/slug or the
        # id; the old URL with our token; our tenant-qualified URL.
        accepted = [
            (f"{system.api_url}/webhook", bearer(mine.secret, mine.slug)),
            (f"{system.api_url}/webhook", bearer(mine.secret, f"{mine.tenant_id}/{mine.slug}")),
            (system.webhook_url(mine, token=False), bearer(mine.secret, mine.id)),
            (system.webhook_url(mine, token=False, legacy=True),
             bearer(mine.secret, mine.slug)),
            (system.webhook_url(mine, legacy=True), {}),
            (system.webhook_url(mine), {}),
            (f"{theirs_url}?token={theirs_secret}", {}),
            (f"{system.webhook_url(mine, token=False, legacy=True)}?token={theirs_secret}",
             {}),
        ]
        signal_ids = []
        for url, headers in accepted:
            status, body = await post_json(http, url, alert(), headers=headers)
            assert status == 202, (url.split("?")[0], headers.keys(), body)
            signal_ids.append(body["signal_id"])

        # Our credentials at their URL: 401, whichever kind.
        raw = json.dumps(alert()).encode()
        refused = [
            (theirs_url, bearer(mine.secret, mine.slug), None),
            (theirs_url, bearer(mine.secret, mine.id), None),
            (theirs_url, {"X-API-Key": mine.secret}, None),
            (f"{theirs_url}?token={mine.secret}", {}, None),
            (theirs_url, signed_headers(mine.secret, raw, uuid.uuid4().hex), raw),
            # A token signed with our secret but naming their strategy.
            (f"{system.api_url}/webhook", bearer(mine.secret, f"{other_tenant}/{mine.slug}"),
             None),
        ]
        for url, headers, data in refused:
            if data is None:
                status, body = await post_json(http, url, alert(), headers=headers)
            else:
                async with http.post(url, data=data, headers=headers) as resp:
                    status, body = resp.status, await resp.json()
            assert (status, body["error"]) == (401, "unauthorized"), (headers.keys(), body)

        # The old URL with a credential of neither: 409 naming the URL form, no tenant.
        legacy = system.webhook_url(mine, token=False, legacy=True)
        status, body = await post_json(http, f"{legacy}?token=whsec_wrong", alert())
        assert (status, body["error"]) == (409, "ambiguous_url"), body
        assert f"/webhook/<tenant>/{mine.slug}" in body["message"]
        assert other_tenant not in body["message"] and mine.tenant_id not in body["message"]

        # Failures at their URL are counted under their tenant, never under none.
        async with http.get(f"{system.operator_url}/metrics") as resp:
            metrics = await resp.text()
    assert metric_value(metrics, "tradehooks_auth_failures_total", tenant=other_tenant,
                        strategy=mine.slug), metrics
    # Nothing refused reached the stream: only the accepted signals, each for its owner.
    received = [e for e in tap.of_type("webhook.received") if e.signal_id in signal_ids]
    assert len(received) == len(accepted)
    owners = [e.tenant_id for e in sorted(received, key=lambda e: signal_ids.index(e.signal_id))]
    assert owners == [mine.tenant_id] * 6 + [other_tenant] * 2


async def test_webhook_jwt_time_rules(system: System, bus: Bus) -> None:
    t = await provision(bus)
    url = system.webhook_url(t.strategy, token=False)
    now = time.time()
    cases = [
        ({"exp": now + 300}, 202, ""),
        ({"exp": now + 300, "iat": now - 60}, 202, ""),
        ({"exp": now - 60}, 401, "expired"),  # past a 30 s leeway (was 300 s)
        ({"exp": str(int(now) + 300)}, 401, "exp must be a number"),
        ({"exp": now + 10 * 365 * 86_400}, 401, "longer than the maximum of 86400 s"),
        ({"exp": now + 3600, "iat": now - 86_400}, 401, "longer than the maximum"),
        ({"exp": now + 3600, "iat": now + 600}, 401, "issued in the future"),
    ]
    async with aiohttp.ClientSession() as http:
        for claims, expected, reason in cases:
            status, body = await post_json(
                http, url, alert(), headers=bearer(t.strategy.secret, t.strategy.id, **claims))
            assert status == expected, (claims, body)
            assert reason in body.get("message", ""), (claims, body)
            assert t.strategy.secret not in json.dumps(body)
