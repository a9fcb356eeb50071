"""Callbacks end to end: a local HTTPS receiver (the test CA trusted by the dispatcher)
checks every request's Standard Webhooks signature and answers as each test says.

Every subscribed lifecycle event reaches the endpoint exactly once by ``webhook-id``
while the receiver fails, times out and the dispatcher is killed (-9) and restarted;
a 410 parks the delivery and disables the endpoint, and redelivery after re-enabling
brings it; SSRF attempts (a private address, a name that resolves to loopback, a
redirect) never reach anything; a rotated secret signs alongside the old one.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from callback_receiver import Receiver, verify
from e2e.helpers import post_json, tv_alert
from harness import EventTap, System, log_size, master_box, provision, wait_restarted, wait_until

from contracts import streams
from contracts.events import (
    CallbackAttempted,
    CallbackEndpointDisabled,
    CallbackParked,
    OrderPartiallyFilled,
    event_type,
)
from libs.registry.models import CallbackEndpoint
from libs.registry.secrets import new_secret
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from tests.factories import make_broker_order

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]
LIFECYCLE = ["webhook.received", "webhook.validated", "webhook.trade_executed",
             "webhook.failed"]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = await Receiver().start()
    try:
        yield server
    finally:
        await server.stop()


async def call(http: aiohttp.ClientSession, system: System, method: str, path: str,
               body: Any = None) -> tuple[int, Any]:
    async with http.request(method, f"{system.operator_url}/api/v1{path}", json=body,
                            headers=system.admin_headers) as resp:
        return resp.status, await resp.json()


async def register(http: aiohttp.ClientSession, system: System, receiver: Receiver,
                   tenant_id: str, url: str, **fields: Any) -> str:
    """Register an endpoint through the API; the receiver accepts its secret."""
    status, created = await call(http, system, "POST", "/callbacks",
                                 {"tenant_id": tenant_id, "url": url, **fields})
    assert status == 201, created
    receiver.secrets.append(created["secret"])
    return str(created["callback"]["id"])


def loopback_alias() -> str:
    """A name other than ``localhost`` that resolves only to loopback here (usually the
    machine's own name), else ``localhost``."""
    name = socket.gethostname()
    try:
        found = {info[4][0] for info in socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)}
    except OSError:
        return "localhost"
    loopback = found and all(ipaddress.ip_address(a).is_loopback for a in found)
    return name if loopback and name.lower() != "localhost" else "localhost"


def subscribed(tap: EventTap, tenant_id: str, types: list[str]) -> set[str]:
    """The ids of the tenant's events of ``types`` seen on the stream."""
    tap.check()
    return {e.event_id for e in tap.events if e.tenant_id == tenant_id and
            event_type(e) in types}


async def test_subscribed_events_arrive_signed_with_a_log_and_a_trail(
        system: System, bus: Bus, tap: EventTap, receiver: Receiver) -> None:
    t = await provision(bus, sizing_mode="alert_contracts")
    async with aiohttp.ClientSession() as http:
        endpoint = await register(http, system, receiver, t.tenant.id,
                                  f"{receiver.base_url}/hook", event_types=LIFECYCLE)
        _, ok = await post_json(http, system.webhook_url(t.strategy), tv_alert(price="10"))
        # Over the strategy's order limit: ends in webhook.failed (stage risk).
        _, big = await post_json(http, system.webhook_url(t.strategy),
                                 tv_alert(contracts="100000", price="10"))
        for signal in (ok["signal_id"], big["signal_id"]):
            await tap.wait_terminal(signal)
        expected = subscribed(tap, t.tenant.id, LIFECYCLE)
        assert len(expected) == 6  # received, validated and a terminal, twice
        await wait_until(lambda: set(receiver.delivered_ids("/hook")) == expected,
                         timeout=30, message="every subscribed event delivered")
        for request in receiver.on("/hook"):
            body = json.loads(request.body)
            assert body["data"]["event_id"] == request.headers["webhook-id"]
            assert body["type"] in LIFECYCLE and body["timestamp"]
            assert "record" not in body["data"]

        status, log = await call(http, system, "GET", f"/callbacks/{endpoint}/deliveries")
        assert status == 200
        assert {d["source_event_id"] for d in log["deliveries"]} == expected
        assert {d["status"] for d in log["deliveries"]} == {"delivered"}
        # The signal's trail says who was told what.
        trail: list[dict[str, Any]] = []

        async def told() -> bool:
            nonlocal trail
            status, answer = await call(http, system, "GET", f"/signals/{ok['signal_id']}")
            trail = answer.get("events", []) if status == 200 else []
            return sum(e["type"] == "callback.attempted" and e["outcome"] == "delivered"
                       for e in trail) == 3
        await wait_until(told, message="the trail to show three deliveries")
        assert {e["endpoint_id"] for e in trail if e["type"].startswith("callback.")} == \
            {endpoint}

        # A rotated secret signs alongside the old one during the overlap.
        old = receiver.secrets[-1]
        status, rotated = await call(http, system, "POST", f"/callbacks/{endpoint}/rotate",
                                     {"overlap_s": 600})
        assert status == 200
        new = rotated["secret"]
        before = len(receiver.on("/hook"))
        await post_json(http, system.webhook_url(t.strategy), tv_alert(price="11"))
        await wait_until(lambda: len(receiver.on("/hook")) > before,
                         message="a delivery after the rotation")
        after = receiver.on("/hook")[before]
        assert len(after.headers["webhook-signature"].split()) == 2
        assert verify([old], after.headers, after.body)
        assert verify([new], after.headers, after.body)


async def test_a_partial_fill_reaches_an_endpoint_that_subscribed_to_it(
        system: System, bus: Bus, receiver: Receiver) -> None:
    """``order.partially_filled`` (the executor's event, published here as it would)
    goes through the dispatcher's consumer to an endpoint that wants it."""
    t = await provision(bus)
    partial = OrderPartiallyFilled(
        event_id=f"evt-{uuid.uuid4().hex}", signal_id=f"sig-{uuid.uuid4().hex}",
        tenant_id=t.tenant.id, occurred_at=datetime.now(UTC), strategy_id=t.strategy.id,
        account_id=t.account.id, broker="paper",
        order=make_broker_order(filled_quantity=Decimal(4)))
    async with aiohttp.ClientSession() as http:
        await register(http, system, receiver, t.tenant.id, f"{receiver.base_url}/partial",
                       event_types=["order.partially_filled"])
        await bus.publish_event(partial, f"{partial.event_id}:test")
        await wait_until(lambda: receiver.delivered_ids("/partial"), timeout=30,
                         message="the partial fill delivered")
    [request] = receiver.on("/partial")
    body = json.loads(request.body)
    assert request.headers["webhook-id"] == partial.event_id and request.signed
    assert body["type"] == "order.partially_filled"
    assert body["data"]["order"]["filled_quantity"] == "4"


async def test_gone_parks_and_disables_and_a_redelivery_brings_it(
        system: System, bus: Bus, tap: EventTap, receiver: Receiver) -> None:
    t = await provision(bus)
    receiver.modes["/gone"] = "gone"
    since = datetime.now(UTC).isoformat()
    async with aiohttp.ClientSession() as http:
        endpoint = await register(http, system, receiver, t.tenant.id,
                                  f"{receiver.base_url}/gone",
                                  event_types=["webhook.received"])
        _, ok = await post_json(http, system.webhook_url(t.strategy), tv_alert())
        disabled = await tap.wait_for(lambda events: [
            e for e in events if isinstance(e, CallbackEndpointDisabled)
            and e.endpoint_id == endpoint])
        assert "410" in disabled[0].reason
        parked = [e for e in tap.events if isinstance(e, CallbackParked)
                  and e.endpoint_id == endpoint]
        assert len(parked) == 1 and parked[0].attempts == 1
        status, view = await call(http, system, "GET", f"/callbacks/{endpoint}")
        assert (view["enabled"], view["failing"]) == (False, True)
        assert "410" in view["disabled_reason"]
        status, log = await call(http, system, "GET",
                                 f"/callbacks/{endpoint}/deliveries?status=parked")
        [first] = log["deliveries"]
        # Disabled: no redelivery until an operator enables it again.
        status, _ = await call(http, system, "POST",
                               f"/callbacks/{endpoint}/deliveries/{first['delivery_id']}"
                               "/redeliver")
        assert status == 409

        receiver.modes["/gone"] = "ok"
        status, view = await call(http, system, "PATCH", f"/callbacks/{endpoint}",
                                  {"enabled": True})
        assert (status, view["enabled"], view["failing"]) == (200, True, False)
        status, again = await call(http, system, "POST",
                                   f"/callbacks/{endpoint}/deliveries/"
                                   f"{first['delivery_id']}/redeliver")
        assert status == 202 and again["redelivery_of"] == first["delivery_id"]
        status, ranged = await call(http, system, "POST", f"/callbacks/{endpoint}/redeliver",
                                    {"since": since, "status": "parked"})
        assert status == 202 and len(ranged["deliveries"]) == 1
        await wait_until(lambda: receiver.delivered_ids("/gone").get(first["source_event_id"])
                         == 2, message="both redeliveries, same webhook-id")

        async def logged() -> bool:
            _, log = await call(http, system, "GET",
                                f"/callbacks/{endpoint}/deliveries?status=delivered")
            return {d["redelivery_of"] for d in log["deliveries"]} == {first["delivery_id"]} \
                and len(log["deliveries"]) == 2
        await wait_until(logged, message="the redeliveries in the log")
        assert first["source_event_id"] == next(
            e.event_id for e in tap.of_type("webhook.received", ok["signal_id"]))


async def test_ssrf_attempts_reach_nothing(system: System, bus: Bus, tap: EventTap,
                                           receiver: Receiver) -> None:
    t = await provision(bus)
    receiver.modes["/redirect"] = "redirect"
    async with aiohttp.ClientSession() as http:
        # Refused when registered ...
        for url in ("https://10.0.0.7/hook", "https://169.254.169.254/latest/meta-data",
                    f"https://localhost:{receiver.port}/x", f"http://127.0.0.2:{receiver.port}/"):
            status, answer = await call(http, system, "POST", "/callbacks",
                                        {"tenant_id": t.tenant.id, "url": url})
            if url.startswith("http://127."):  # a literal loopback address: allowed here
                assert status == 201, answer
                await call(http, system, "POST",
                           f"/callbacks/{answer['callback']['id']}/disable")
                continue
            assert (status, answer["field"]) == (422, "url"), (url, answer)
        # ... and when connecting: records written before the rules (or before a name
        # moved) are planted as they are.
        registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
        planted = {}
        alias = loopback_alias()
        for name, url in (("loopback-name", f"https://{alias}:{receiver.port}/name"),
                          ("private", "https://10.255.255.1/private")):
            endpoint = CallbackEndpoint(id=f"cb-{name}-{uuid.uuid4().hex[:6]}",
                                        tenant_id=t.tenant.id, url=url,
                                        secret=new_secret(), event_types=["webhook.received"])
            await registry.put(endpoint)
            planted[name] = endpoint.id
        planted["redirect"] = await register(http, system, receiver, t.tenant.id,
                                             f"{receiver.base_url}/redirect",
                                             event_types=["webhook.received"])
        await post_json(http, system.webhook_url(t.strategy), tv_alert())

        def first_attempts(events: list[Any]) -> dict[str, CallbackAttempted]:
            found = {e.endpoint_id: e for e in events if isinstance(e, CallbackAttempted)
                     and e.attempt == 1}
            return found if set(planted.values()) <= set(found) else {}
        attempts = await tap.wait_for(first_attempts, timeout=30)
        for endpoint_id in planted.values():  # stop the retries
            if endpoint_id != planted["redirect"]:
                await registry.put((await registry.callback(endpoint_id)).model_copy(  # type: ignore[union-attr]
                    update={"enabled": False}))
        await call(http, system, "POST", f"/callbacks/{planted['redirect']}/disable")

    name = attempts[planted["loopback-name"]]
    assert (name.outcome, name.status_code) == ("refused", 0)
    # Judged on what the name resolves to when connecting (``localhost`` is refused
    # by name already).
    assert ("resolves to 127." in name.error and "a loopback address" in name.error) \
        if alias != "localhost" else "localhost is a loopback name" in name.error
    private = attempts[planted["private"]]
    assert private.outcome == "refused" and "private address" in private.error
    redirect = attempts[planted["redirect"]]
    assert (redirect.outcome, redirect.status_code) == ("failed", 302)
    assert "not followed" in redirect.error
    assert receiver.on("/redirect") and not receiver.on("/target")
    assert not receiver.on("/name")


@pytest.mark.own_system
async def test_every_event_arrives_once_by_id_through_failures_and_a_kill(
        system: System, bus: Bus, tap: EventTap, receiver: Receiver) -> None:
    t = await provision(bus, sizing_mode="alert_contracts")
    receiver.modes["/flaky"] = "fail"
    async with aiohttp.ClientSession() as http:
        await register(http, system, receiver, t.tenant.id, f"{receiver.base_url}/flaky",
                       event_types=LIFECYCLE)
        signals = []
        for n in range(4):
            contracts = "100000" if n == 2 else "1"  # one over the limit: webhook.failed
            _, accepted = await post_json(http, system.webhook_url(t.strategy),
                                          tv_alert(contracts=contracts, price=f"{10 + n}"))
            signals.append(accepted["signal_id"])
        await wait_until(lambda: len(receiver.on("/flaky")) >= 4,
                         message="failing attempts")
        system.kill("dispatcher")  # SIGKILL: whatever it held comes back
        for n in range(2):
            _, accepted = await post_json(http, system.webhook_url(t.strategy),
                                          tv_alert(price=f"{20 + n}"))
            signals.append(accepted["signal_id"])
        for signal in signals:
            await tap.wait_terminal(signal)
        receiver.modes["/flaky"] = "slow"  # answers after the dispatcher gave up waiting
        offset = log_size(system, "dispatcher")
        system.start("dispatcher")
        await wait_restarted(system, "dispatcher", offset)
        slow_from = len(receiver.on("/flaky"))
        await wait_until(lambda: len(receiver.on("/flaky")) >= slow_from + 2,
                         timeout=30, message="timed-out attempts")
        receiver.modes["/flaky"] = "ok"
        expected = subscribed(tap, t.tenant.id, LIFECYCLE)
        assert len(expected) == 18  # six signals: received, validated, a terminal each
        await wait_until(lambda: set(receiver.delivered_ids("/flaky")) == expected,
                         timeout=60, message="every subscribed event delivered")
    delivered = receiver.delivered_ids("/flaky")
    assert set(delivered) == expected  # nothing missing, nothing else
    assert all(r.signed for r in receiver.on("/flaky"))
    assert not [e for e in tap.events if isinstance(e, CallbackParked)]
