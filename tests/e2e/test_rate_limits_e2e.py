"""Rate limits per strategy, account and tenant on the running system: shared by two
ingress processes, 429 with the exact Retry-After, a fresh count in the next window.

Ingress's clock is the test's (``System.set_clock``): every request of a test falls
in the window the test chose, whatever the wall clock does meanwhile.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from e2e.helpers import tv_alert
from harness import (
    System,
    Tenancy,
    add_account,
    add_strategy,
    provision,
    strategy_webhook_url,
    wait_until,
)
from ports import free_port

from libs.registry.models import RateLimits
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]
# 20 s into a minute (and into an hour and a day): the minute window ends in 40 s.
FROZEN = datetime(2031, 3, 4, 5, 0, 20, tzinfo=UTC)


async def post(http: aiohttp.ClientSession, base: str, t: Tenancy,
               n: int) -> tuple[int, dict[str, Any], str | None]:
    url = strategy_webhook_url(base, t.strategy)
    async with http.post(url, json=tv_alert(price=str(100 + n))) as resp:
        return resp.status, await resp.json(), resp.headers.get("Retry-After")


@pytest.mark.own_system
async def test_a_strategy_limit_is_shared_by_two_ingress_processes(system: System,
                                                                   bus: Bus) -> None:
    second_port = free_port()
    system.start("ingress", instance="ingress-2", TRADEHOOKS_HTTP_PORT=str(second_port))
    await wait_until(lambda: system.running("ingress-2"), message="the second ingress")
    system.set_clock(FROZEN)
    t = await provision(bus, rate_limits=RateLimits(per_minute=3))
    other = await provision(bus)  # no limit: unaffected
    bases = [system.api_url, f"http://127.0.0.1:{second_port}"]
    async with aiohttp.ClientSession() as http:
        answers = [await post(http, bases[n % 2], t, n) for n in range(5)]
        assert (await post(http, bases[1], other, 9))[0] == 202
        # The next minute counts afresh, on either process.
        system.set_clock(FROZEN + timedelta(seconds=40))
        assert (await post(http, bases[1], t, 10))[0] == 202
    assert [status for status, _, _ in answers] == [202, 202, 202, 429, 429]
    for _, body, retry_after in answers[3:]:
        assert body == {"error": "rate_limited", "message":
                        "strategy limit of 3 per minute reached; retry in 40 s"}
        assert retry_after == "40"


async def test_a_tenant_limit_counts_every_strategy_of_the_tenant(system: System,
                                                                  bus: Bus) -> None:
    system.set_clock(FROZEN)
    first = await provision(bus, tenant_fields={"rate_limits": RateLimits(per_hour=3)})
    # A second account of the same tenant, with its own strategy.
    second = await add_account(bus, first)
    outsider = await provision(bus)
    async with aiohttp.ClientSession() as http:
        statuses = [(await post(http, system.api_url, t, n))[0]
                    for n, t in enumerate([first, second, first])]
        status, body, retry_after = await post(http, system.api_url, second, 3)
        assert (await post(http, system.api_url, outsider, 4))[0] == 202
    assert statuses == [202, 202, 202]
    assert (status, retry_after) == (429, str(3600 - 20))
    assert body["message"] == "tenant limit of 3 per hour reached; retry in 3580 s"


async def test_an_account_limit_counts_every_strategy_on_the_account(system: System,
                                                                     bus: Bus) -> None:
    system.set_clock(FROZEN)
    first = await provision(bus, account_fields={"rate_limits": RateLimits(per_day=2)})
    second = await add_strategy(bus, first)
    elsewhere = await add_account(bus, first)  # same tenant, another account
    async with aiohttp.ClientSession() as http:
        statuses = [(await post(http, system.api_url, t, n))[0]
                    for n, t in enumerate([first, second])]
        status, body, retry_after = await post(http, system.api_url, first, 2)
        assert (await post(http, system.api_url, elsewhere, 3))[0] == 202
        system.set_clock(FROZEN + timedelta(days=1))
        assert (await post(http, system.api_url, second, 4))[0] == 202
    assert statuses == [202, 202]
    assert (status, retry_after) == (429, str(86_400 - 5 * 3600 - 20))
    assert body["message"] == "account limit of 2 per day reached; retry in 68380 s"



async def test_a_retry_of_an_accepted_alert_is_a_duplicate_even_over_the_limit(
        system: System, bus: Bus) -> None:
    """TradingView resends an alert it got no answer to: over the limit, the retry is
    still answered ``200 duplicate`` with the first signal id, and counts against no
    limit (nor does a retry below it)."""
    system.set_clock(FROZEN)
    t = await provision(bus, rate_limits=RateLimits(per_minute=2))
    async with aiohttp.ClientSession() as http:
        status, body, _ = await post(http, system.api_url, t, 1)
        assert status == 202, body
        signal_id = body["signal_id"]
        # A retry below the limit: a duplicate that does not use up the second request.
        assert (await post(http, system.api_url, t, 1))[:2] == (
            200, {"signal_id": signal_id, "status": "duplicate"})
        second = await post(http, system.api_url, t, 2)
        assert second[0] == 202
        over = await post(http, system.api_url, t, 3)
        assert (over[0], over[2]) == (429, "40")
        for n in (1, 2):  # retries of both accepted alerts, over the limit
            status, body, _ = await post(http, system.api_url, t, n)
            expected = signal_id if n == 1 else second[1]["signal_id"]
            assert (status, body) == (200, {"signal_id": expected, "status": "duplicate"})
        # The refused alert was never accepted: its retry is refused again.
        assert (await post(http, system.api_url, t, 3))[0] == 429
