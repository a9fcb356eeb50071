"""A NATS outage: ingress refuses fast with 503, and everything resumes afterwards."""

from __future__ import annotations

import time

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import System, provision, wait_until

from libs.runtime.bus import Bus

pytestmark = pytest.mark.e2e


async def test_nats_restart_gives_503_then_the_pipeline_resumes(system: System,
                                                                bus: Bus) -> None:
    t = await provision(bus)
    url = system.webhook_url(t.strategy)
    await bus.close()
    system.nats.stop(kill=True)
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        async with http.post(url, json=tv_alert(price="77")) as resp:
            status, body, retry_after = resp.status, await resp.json(), \
                resp.headers.get("Retry-After")
        elapsed = time.monotonic() - started
        assert (status, body["error"]) == (503, "unavailable")
        assert retry_after is not None
        assert elapsed < 3.0  # TradingView cancels a webhook after 3 s

        await system.nats.start()  # same port, same store directory
        # The sender retries, as TradingView does after a 5xx.

        async def accepted() -> dict | None:
            status, body = await post_json(http, url, tv_alert(price="77"))
            return body if status == 202 else None

        body = await wait_until(accepted, timeout=30, interval=0.5,
                                message="ingress to accept again")

    async def executed() -> bool:
        async with aiohttp.ClientSession() as http, \
                http.get(f"{system.operator_url}/api/v1/signals/{body['signal_id']}",
                         headers=system.admin_headers) as r:
            return r.status == 200 and (await r.json())["status"] == "executed"

    # Every consumer (and the auditor) must have re-attached after the restart.
    await wait_until(executed, timeout=45, interval=0.2,
                     message="the signal to fill after the restart")
