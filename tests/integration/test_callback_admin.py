"""The callback endpoint and notification channel routes of the operator API, in
process, on a real NATS: create (secret once, sealed at rest), list/get (never a
secret), update, disable, rotate; SSRF refusals and unknown fields are 422s; tenant
walls hold; the ``tradehooks channel`` commands against them."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from harness import EventTap, master_box, provision, remember_secret

from cli import channels
from contracts import streams
from contracts.events import CallbackCreated, CallbackSecretRotated, CallbackUpdated
from libs.intake.ratelimit import RateLimiter, ScopeLimits
from libs.registry.api_keys import ApiKeys
from libs.registry.cache import StrategyCache
from libs.registry.store import Registry
from libs.registry.views import MASK
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from libs.runtime.config import Settings
from services.api.app import build_operator_app
from services.api.context import ApiContext

URL = "https://127.0.0.1:9443/hooks"


@pytest.fixture
async def api(bus: Bus) -> AsyncIterator[TestClient[Any, Any]]:
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    strategies = StrategyCache(registry)
    await strategies.start()
    settings = Settings(callback_allow_loopback=True)
    ctx = ApiContext(settings=settings, bus=bus, strategies=strategies,
                     store=cast(Any, None), read_model=cast(Any, None), clock=SystemClock(),
                     limiter=RateLimiter(await bus.kv(streams.BUCKET_RATE)),
                     scope_limits=ScopeLimits(registry),
                     api_keys=ApiKeys(await bus.kv(streams.BUCKET_REGISTRY)))
    client = TestClient(TestServer(build_operator_app(ctx)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await strategies.stop()


async def _key(bus: Bus, tenant_id: str = "", role: str = "admin") -> dict[str, str]:
    _, key = await ApiKeys(await bus.kv(streams.BUCKET_REGISTRY)).create(role, tenant_id)  # type: ignore[arg-type]
    return {"X-API-Key": key}


async def test_create_list_get_update_disable_rotate(api: TestClient[Any, Any], bus: Bus,
                                                     tap: EventTap) -> None:
    t = await provision(bus)
    admin = await _key(bus)
    body = {"tenant_id": t.tenant.id, "url": URL, "event_types": ["webhook.failed"],
            "strategy_ids": [t.strategy.id]}
    resp = await api.post("/api/v1/callbacks", json=body, headers=admin)
    created = await resp.json()
    assert resp.status == 201, created
    secret, view = created["secret"], created["callback"]
    assert secret.startswith("whsec_") and "secret" not in view
    assert view["event_types"] == ["webhook.failed"] and view["enabled"] is True
    endpoint_id = view["id"]

    # Sealed at rest; the registry opens it with the master key.
    raw = (await (await bus.kv(streams.BUCKET_REGISTRY)).get(f"callback.{endpoint_id}")).value
    assert raw is not None and secret.encode() not in raw and b"enc:" in raw
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    stored = await registry.callback(endpoint_id)
    assert stored is not None and stored.secret == secret

    listed = await (await api.get("/api/v1/callbacks", headers=admin)).json()
    assert endpoint_id in [c["id"] for c in listed] and secret not in orjson.dumps(listed).decode()
    assert (await (await api.get(f"/api/v1/callbacks/{endpoint_id}", headers=admin))
            .json())["url"] == URL

    resp = await api.patch(f"/api/v1/callbacks/{endpoint_id}", headers=admin,
                           json={"event_types": ["webhook.failed", "webhook.trade_executed"]})
    assert resp.status == 200 and len((await resp.json())["event_types"]) == 2
    resp = await api.post(f"/api/v1/callbacks/{endpoint_id}/disable", headers=admin)
    assert resp.status == 200 and (await resp.json())["enabled"] is False

    resp = await api.post(f"/api/v1/callbacks/{endpoint_id}/rotate", headers=admin,
                          json={"overlap_s": 60})
    rotated = await resp.json()
    assert resp.status == 200 and rotated["secret"] not in (secret, "")
    fresh = await registry.callback(endpoint_id)
    assert fresh is not None and fresh.previous_secret == secret

    await tap.wait_for(lambda events: any(isinstance(e, CallbackSecretRotated)
                                          for e in events))
    corr = f"callback:{endpoint_id}"
    kinds = [type(e) for e in tap.events if e.signal_id == corr]
    assert kinds == [CallbackCreated, CallbackUpdated, CallbackUpdated, CallbackSecretRotated]
    # No event carries a secret in the clear.
    for _, data in tap.raw:
        assert secret.encode() not in data and rotated["secret"].encode() not in data


@pytest.mark.parametrize(("url", "says"), [
    ("https://10.0.0.7/hook", "private"),
    ("https://169.254.169.254/latest", "metadata"),
    ("https://localhost:9443/hook", "loopback name"),
    ("http://hooks.example.com/", "https"),
    ("https://u:p@127.0.0.1/", "user or password"),
])
async def test_unsafe_urls_are_refused_at_registration(api: TestClient[Any, Any], bus: Bus,
                                                       url: str, says: str) -> None:
    t = await provision(bus)
    resp = await api.post("/api/v1/callbacks", headers=await _key(bus),
                          json={"tenant_id": t.tenant.id, "url": url})
    answer = await resp.json()
    assert resp.status == 422 and answer["field"] == "url" and says in answer["message"]


async def test_unknown_fields_and_server_fields_are_refused(api: TestClient[Any, Any],
                                                            bus: Bus) -> None:
    t = await provision(bus)
    admin = await _key(bus)
    for extra in ({"urll": URL}, {"secret": "whsec_mine"}, {"failing": True},
                  {"event_types": ["order.requested"]},
                  {"strategy_ids": ["strat-of-nobody"]}):
        resp = await api.post("/api/v1/callbacks", headers=admin,
                              json={"tenant_id": t.tenant.id, "url": URL, **extra})
        assert resp.status == 422, (extra, await resp.text())
    resp = await api.post("/api/v1/callbacks", headers=admin,
                          json={"tenant_id": t.tenant.id, "url": URL})
    endpoint_id = (await resp.json())["callback"]["id"]
    for patch in ({"tenant_id": "other"}, {"nope": 1}, {"url": "https://10.0.0.1/"}):
        resp = await api.patch(f"/api/v1/callbacks/{endpoint_id}", headers=admin, json=patch)
        assert resp.status == 422, (patch, await resp.text())


async def test_another_tenants_endpoint_is_not_found(api: TestClient[Any, Any],
                                                     bus: Bus) -> None:
    mine, theirs = await provision(bus), await provision(bus)
    resp = await api.post("/api/v1/callbacks", headers=await _key(bus),
                          json={"tenant_id": theirs.tenant.id, "url": URL})
    endpoint_id = (await resp.json())["callback"]["id"]
    my_key = await _key(bus, mine.tenant.id)
    for method, path in (("GET", ""), ("PATCH", ""), ("POST", "/disable"),
                         ("POST", "/rotate")):
        resp = await api.request(method, f"/api/v1/callbacks/{endpoint_id}{path}",
                                 headers=my_key, json={} if method != "GET" else None)
        assert resp.status == 404, (method, path)
    listed = await (await api.get("/api/v1/callbacks", headers=my_key)).json()
    assert endpoint_id not in [c["id"] for c in listed]
    resp = await api.post("/api/v1/callbacks", headers=my_key,
                          json={"tenant_id": theirs.tenant.id, "url": URL})
    assert resp.status == 404


async def test_notification_webhooks_are_judged_like_callback_urls(
        api: TestClient[Any, Any], bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Discord/Slack URL whose name resolves to a private address is a 422 naming
    the channel and the address, not the URL's secret path; a Telegram "token" that
    would steer the Bot API path is a 422; a literal loopback URL (allowed here) and a
    real token are stored."""
    t = await provision(bus)
    admin = await _key(bus)

    async def rebinding(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    monkeypatch.setattr("libs.callbacks.targets.resolve", rebinding)
    path = f"/api/v1/tenants/{t.tenant.id}"
    hook = {"name": "ops", "kind": "slack", "secret": "https://hooks.example/services/T/B/sekrit"}
    resp = await api.patch(path, json={"notifications": [hook]}, headers=admin)
    problem = await resp.json()
    assert resp.status == 422, problem
    assert "channel ops: hooks.example resolves to 10.0.0.7, a private address" in \
        problem["message"]
    assert "sekrit" not in await resp.text()
    bad_token = {"name": "tg", "kind": "telegram", "secret": "1:x/../../getMe?",
                 "chat_id": "42"}
    resp = await api.patch(path, json={"notifications": [bad_token]}, headers=admin)
    assert resp.status == 422 and "bot token" in (await resp.json())["message"]
    good = [{**hook, "secret": "https://127.0.0.1:9443/services/T/B/sekrit"},
            {**bad_token, "secret": "123456:ABC-def_ghi"}]
    resp = await api.patch(path, json={"notifications": good}, headers=admin)
    assert resp.status == 200, await resp.text()
    # Sent back as read (masked secrets), nothing is judged again or lost.
    again = (await resp.json())["notifications"]
    assert (await api.patch(path, json={"notifications": again}, headers=admin)).status == 200


TG_TOKEN = "123456:channel-admin-token"


async def test_a_tenants_own_admin_manages_its_channels(api: TestClient[Any, Any],
                                                        bus: Bus) -> None:
    """Add (201), list (masked), replace without the secret (kept), remove; a viewer
    may read only; another tenant's key sees nothing; bad names and fields answer."""
    remember_secret(TG_TOKEN)
    t, other = await provision(bus), await provision(bus)
    mine = await _key(bus, t.tenant.id)
    base = f"/api/v1/tenants/{t.tenant.id}/notifications"
    desk = {"kind": "telegram", "secret": TG_TOKEN, "chat_id": "-100", "topics": ["fills"]}
    resp = await api.put(f"{base}/desk", json=desk, headers=mine)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["secret"] == MASK
    listed = await (await api.get(base, headers=await _key(bus, t.tenant.id, "viewer"))).json()
    assert [(c["name"], c["secret"], c["topics"]) for c in listed] == \
        [("desk", MASK, ["fills"])]
    changed = {**listed[0], "topics": ["fills", "failures"]}  # sent back masked
    resp = await api.put(f"{base}/desk", json=changed, headers=mine)
    assert resp.status == 200, await resp.text()
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    tenant = await registry.tenant(t.tenant.id)
    assert tenant is not None
    [stored] = tenant.notifications
    assert stored.secret == TG_TOKEN and stored.topics == ["fills", "failures"]
    viewer = await _key(bus, t.tenant.id, "viewer")
    assert (await api.put(f"{base}/desk", json=desk, headers=viewer)).status == 403
    theirs = await _key(bus, other.tenant.id)
    assert (await api.get(base, headers=theirs)).status == 404
    assert (await api.delete(f"{base}/desk", headers=theirs)).status == 404
    assert (await api.put(f"{base}/Bad Name!", json=desk, headers=mine)).status == 404
    for bad in ({**desk, "kind": "pager"}, {**desk, "chat_id": ""}, {**desk, "nope": 1},
                {**desk, "name": "other"}):
        resp = await api.put(f"{base}/desk", json=bad, headers=mine)
        assert resp.status == 422, (bad, await resp.text())
    resp = await api.delete(f"{base}/desk", headers=mine)
    assert resp.status == 200 and await resp.json() == []
    assert (await api.delete(f"{base}/desk", headers=mine)).status == 404


async def test_the_channel_commands(api: TestClient[Any, Any], bus: Bus,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``channel set`` adds a channel, then changes only the fields given (the secret
    kept); ``list`` shows it masked; ``remove`` takes it away."""
    remember_secret(TG_TOKEN)
    t = await provision(bus)
    parser = argparse.ArgumentParser()
    channels.add_parser(parser.add_subparsers(dest="command"))
    url = str(api.make_url("/api/v1"))

    async def run(*words: str) -> Any:
        args = parser.parse_args(["channel", *words])
        async with aiohttp.ClientSession(headers=await _key(bus, t.tenant.id)) as http:
            status, answer = await channels.call(http, url, args)
        assert status < 300, answer
        return answer

    added = await run("set", t.tenant.id, "desk", "kind=telegram", f"secret={TG_TOKEN}",
                      "chat_id=-100", 'topics=["fills"]', "collapse_s=0")
    assert added["secret"] == MASK and added["collapse_s"] == 0
    off = await run("set", t.tenant.id, "desk", "enabled=false")
    assert off["enabled"] is False and off["topics"] == ["fills"] and off["chat_id"] == "-100"
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    tenant = await registry.tenant(t.tenant.id)
    assert tenant is not None and tenant.notifications[0].secret == TG_TOKEN
    assert [c["name"] for c in await run("list", t.tenant.id)] == ["desk"]
    assert await run("remove", t.tenant.id, "desk") == []
