"""Bots' credentials, source allowlists and the auth-failure alert, end to end."""

from __future__ import annotations

import time

import aiohttp
import jwt
import pytest
from e2e.helpers import post_json, tv_alert
from harness import EventTap, System, metric_value, provision

from contracts.events import AuthFailuresAlert
from libs.runtime.bus import Bus

pytestmark = pytest.mark.e2e


async def restart_ingress(system: System, **env: str) -> None:
    assert system.terminate("ingress") == 0
    system.start("ingress", **env)
    await system.wait_ready()


async def test_api_key_and_jwt_headers_are_accepted(system: System, bus: Bus,
                                                    tap: EventTap) -> None:
    t = await provision(bus)
    url = f"{system.api_url}/webhook"
    claims = {"sub": t.strategy.slug, "exp": time.time() + 60}
    bearer = jwt.encode(claims, t.strategy.secret, algorithm="HS256")
    async with aiohttp.ClientSession() as http:
        with_key = await post_json(http, url, tv_alert(price="10"),
                                   headers={"X-API-Key": t.strategy.secret})
        with_jwt = await post_json(http, url, tv_alert(price="11"),
                                   headers={"Authorization": f"Bearer {bearer}"})
        expired = jwt.encode({**claims, "exp": time.time() - 600}, t.strategy.secret,
                             algorithm="HS256")
        refused = await post_json(http, url, tv_alert(price="12"),
                                  headers={"Authorization": f"Bearer {expired}"})
    assert with_key[0] == 202 and with_jwt[0] == 202, (with_key, with_jwt)
    assert refused[0] == 401 and "expired" in refused[1]["message"]
    modes = {e.auth_mode for e in tap.of_type("webhook.received")  # type: ignore[union-attr]
             if e.tenant_id == t.tenant.id}
    assert modes == {"api_key", "jwt"}


async def test_allowlist_behind_a_trusted_proxy_and_the_failure_alert(
        system: System, bus: Bus, tap: EventTap) -> None:
    await restart_ingress(system, TRADEHOOKS_TRUSTED_PROXIES="127.0.0.1/32",
                          TRADEHOOKS_AUTH_ALERT_THRESHOLD="3")
    t = await provision(bus, ip_allowlist=["tradingview"])
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        # Our proxy (127.0.0.1, trusted) says the caller is TradingView.
        allowed = await post_json(http, url, tv_alert(price="10"),
                                  headers={"X-Forwarded-For": "52.89.214.238"})
        blocked = await post_json(http, url, tv_alert(price="11"),
                                  headers={"X-Forwarded-For": "198.51.100.7"})
        wrong = system.webhook_url(t.strategy, token=False) + "?token=whsec_wrong"

        def alerts() -> list[AuthFailuresAlert]:
            return [e for e in tap.events if isinstance(e, AuthFailuresAlert)]

        # Failures are counted per minute: keep failing until the 4th of one minute.
        for n in range(12):
            status, _ = await post_json(http, wrong, tv_alert(price=str(20 + n)),
                                        headers={"X-Forwarded-For": "198.51.100.66"})
            assert status == 401
            if n >= 3:
                try:
                    await tap.wait_for(lambda _: alerts(), timeout=1.0)
                    break
                except AssertionError:
                    continue
        for _ in range(3):  # more failures in the same minute raise no second alert
            await post_json(http, wrong, tv_alert(price="99"))
    assert allowed[0] == 202, allowed
    assert blocked[0] == 403 and blocked[1]["error"] == "ip_not_allowed"
    raised = alerts()
    assert len({a.signal_id for a in raised}) == len(raised)  # one per strategy and minute
    first = raised[0]
    assert (first.strategy_hint, first.strategy_id, first.tenant_id, first.source_ip,
            first.failures) == (t.strategy.slug, t.strategy.id, t.tenant.id, "198.51.100.66", 4)
    received = await tap.wait_for(
        lambda _: tap.of_type("webhook.received", allowed[1]["signal_id"]))
    assert received[0].source_ip == "52.89.214.238"  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as http, http.get(f"{system.operator_url}/metrics") as r:
        assert metric_value(await r.text(), "tradehooks_auth_failures_total",
                            tenant=t.tenant.id, strategy=t.strategy.slug)
