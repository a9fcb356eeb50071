"""Rate limits hold across two ingress processes and answer 429 with Retry-After."""

from __future__ import annotations

import aiohttp
import pytest
from e2e.helpers import tv_alert
from harness import System, provision, wait_until

from services.registry.models import RateLimits
from services.runtime.bus import Bus
from services.runtime.embedded_nats import free_port

pytestmark = pytest.mark.e2e


async def test_a_strategy_limit_is_shared_by_two_ingress_processes(system: System,
                                                                   bus: Bus) -> None:
    second_port = free_port()
    system.start("ingress", instance="ingress-2", TRADEHOOKS_HTTP_PORT=str(second_port))
    await wait_until(lambda: system.running("ingress-2"), message="the second ingress")
    # Hourly, so a window boundary during the test is very unlikely.
    t = await provision(bus, rate_limits=RateLimits(per_hour=3))
    other = await provision(bus)  # no limit: unaffected
    bases = [system.api_url, f"http://127.0.0.1:{second_port}"]
    statuses = []
    async with aiohttp.ClientSession() as http:
        for n in range(5):
            url = f"{bases[n % 2]}/webhook/{t.strategy.slug}?token={t.strategy.secret}"
            async with http.post(url, json=tv_alert(price=str(100 + n))) as resp:
                statuses.append(resp.status)
                if resp.status == 429:
                    body = await resp.json()
                    retry_after = int(resp.headers["Retry-After"])
        free_url = f"{bases[1]}/webhook/{other.strategy.slug}?token={other.strategy.secret}"
        async with http.post(free_url, json=tv_alert(price="1")) as resp:
            assert resp.status == 202
    assert statuses == [202, 202, 202, 429, 429]
    assert body["error"] == "rate_limited"
    assert "strategy limit of 3 per hour" in body["message"]
    assert 0 < retry_after <= 3600
