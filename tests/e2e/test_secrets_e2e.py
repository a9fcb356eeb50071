"""Secret rotation with overlap, and strategies usable the moment they are registered."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import ROOT, EventTap, System, provision, wait_until

from services.runtime.bus import Bus

pytestmark = pytest.mark.e2e


async def test_rotation_keeps_the_old_secret_for_the_overlap_then_refuses_it(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus)
    base = f"{system.api_url}/webhook/{t.strategy.slug}"
    old = t.strategy.secret
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "services.cli.main", "rotate",
                         t.strategy.id, "--overlap-s", "3"],
        env=system.env(), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"new secret \(shown once\): (whsec_\S+)", result.stdout)
    assert match is not None
    new = match.group(1)
    assert new != old
    rotated = await tap.wait_for(lambda _: tap.of_type("registry.strategy_secret_rotated"))
    assert old not in str(rotated) and new not in str(rotated)

    async with aiohttp.ClientSession() as http:
        async def accepted(secret: str, price: str) -> bool:
            status, _ = await post_json(http, f"{base}?token={secret}", tv_alert(price=price))
            return status == 202

        await wait_until(lambda: accepted(new, "101"), message="the new secret to work")
        assert await accepted(old, "102")  # still inside the overlap
        # After the overlap only the new secret opens the door.
        await wait_until(lambda: _refused(http, f"{base}?token={old}"), timeout=10,
                         interval=0.25, message="the old secret to expire")
        assert await accepted(new, "104")


async def _refused(http: aiohttp.ClientSession, url: str) -> bool:
    status, body = await post_json(http, url, tv_alert(price="103"))
    return status == 401 and body["error"] == "unauthorized"


async def test_many_strategies_registered_back_to_back_work_at_once(
        system: System, bus: Bus) -> None:
    async with aiohttp.ClientSession() as http:
        for n in range(8):
            t = await provision(bus)  # no waiting for the registry watch
            url = f"{system.api_url}/webhook/{t.strategy.slug}?token={t.strategy.secret}"
            status, body = await post_json(http, url, tv_alert(price=str(100 + n)))
            assert status == 202, body
            status, body = await post_json(http, f"{system.api_url}/webhook",
                                           {**tv_alert(price=str(200 + n)),
                                            "token": t.strategy.secret})
            assert status == 202, body
