"""Secret rotation with overlap, and strategies usable the moment they are registered."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import ROOT, EventTap, System, provision, wait_until

from contracts.events import StrategySecretRotated
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]


async def test_rotation_keeps_the_old_secret_for_the_overlap_then_refuses_it(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus)
    base = system.webhook_url(t.strategy, token=False)
    old = t.strategy.secret
    rotated_at = datetime.now(UTC)
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "cli.main", "rotate",
                         t.strategy.id, "--overlap-s", "600"],
        env=system.env(), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"new secret \(shown once\): (whsec_\S+)", result.stdout)
    assert match is not None
    new = match.group(1)
    assert new != old
    (rotated,) = await tap.wait_for(lambda _: tap.of_type("registry.strategy_secret_rotated"))
    assert old not in str(rotated) and new not in str(rotated)
    assert isinstance(rotated, StrategySecretRotated)
    ends = rotated.previous_valid_until
    assert rotated_at + timedelta(seconds=600) <= ends <= datetime.now(UTC) + \
        timedelta(seconds=600)

    async with aiohttp.ClientSession() as http:
        async def answer(secret: str, price: str) -> tuple[int, str]:
            status, body = await post_json(http, f"{base}?token={secret}",
                                           tv_alert(price=price))
            return status, body.get("error", "")

        await wait_until(lambda: _accepted(answer(new, "101")),
                         message="the new secret to work")
        # Ingress's clock is the test's: the last moment of the overlap, then the first
        # after it (the wall clock cannot end the overlap in between).
        system.set_clock(ends - timedelta(milliseconds=1))
        assert await answer(old, "102") == (202, "")
        system.set_clock(ends)
        assert await answer(old, "103") == (401, "unauthorized")
        assert await answer(new, "104") == (202, "")


async def _accepted(answer: Awaitable[tuple[int, str]]) -> bool:
    return (await answer)[0] == 202


async def test_many_strategies_registered_back_to_back_work_at_once(
        system: System, bus: Bus) -> None:
    async with aiohttp.ClientSession() as http:
        for n in range(8):
            t = await provision(bus)  # no waiting for the registry watch
            url = system.webhook_url(t.strategy)
            status, body = await post_json(http, url, tv_alert(price=str(100 + n)))
            assert status == 202, body
            status, body = await post_json(http, f"{system.api_url}/webhook",
                                           {**tv_alert(price=str(200 + n)),
                                            "token": t.strategy.secret})
            assert status == 202, body


async def _raw_request(system: System, request: bytes) -> bytes:
    """Send bytes to the public listener as they are; the status line answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", system.http_port)
    try:
        writer.write(request)
        await writer.drain()
        return await reader.readline()
    finally:
        writer.close()


async def test_a_request_over_8_kib_never_writes_its_credentials_to_a_log(
        system: System, bus: Bus) -> None:
    """aiohttp refuses a request line or header over 8 KiB itself, and logs the bytes
    it read: the URL's token, or the header's value. The log shows neither (nor a
    traceback: it is a client's bad request, answered 400)."""
    t = await provision(bus)
    secret, pad = t.strategy.secret, "a" * 9000
    line = (f"POST /webhook/{t.strategy.slug}?token={secret}&pad={pad} HTTP/1.1\r\n"
            "Host: x\r\nContent-Length: 2\r\n\r\n{}").encode()
    header = (f"POST /webhook/{t.strategy.slug}?token={secret} HTTP/1.1\r\nHost: x\r\n"
              f"Authorization: Bearer {secret} {pad}\r\n\r\n").encode()
    key = (f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-API-Key: {system.admin_key} {pad}"
           "\r\n\r\n").encode()
    for request in (line, header, key):
        status = await _raw_request(system, request)
        assert status.split(b" ")[1] == b"400", status
    log = system.data_dir / "ingress.log"
    await wait_until(lambda: log.read_text().count("bad request (400)") == 3,
                     message="ingress to log the three bad requests")
    text = log.read_text()
    assert secret not in text and system.admin_key not in text
    assert "token=[redacted]" in text and "Got more than 8190 bytes" in text
    system.assert_no_secrets({secret, system.admin_key})
    # The next webhook is accepted as ever.
    async with aiohttp.ClientSession() as http:
        url = f"{system.api_url}/webhook/{t.strategy.slug}?token={secret}"
        assert (await post_json(http, url, tv_alert(price="10")))[0] == 202
