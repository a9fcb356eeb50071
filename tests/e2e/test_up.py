"""``tradehooks up`` — what ``make run`` calls — works from an empty data dir."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from e2e.helpers import tv_alert
from harness import ROOT, wait_until
from ports import free_port

from cli.supervisor import SERVICES as SUPERVISED

pytestmark = pytest.mark.e2e


async def start_up(data_dir: Path) -> tuple[asyncio.subprocess.Process, bytearray,
                                            asyncio.Task[None]]:
    """``tradehooks up`` on a fresh data dir, as a user starts it: no NATS_URL, no
    database URL, no master key. Returns the process, its growing output and the
    task reading it."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NATS_URL", "TRADEHOOKS_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR",
                        "TRADEHOOKS_MASTER_KEY")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "up", "--data-dir", str(data_dir),
        "--port", str(free_port()), "--operator-port", str(free_port()), env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its own process group, like a terminal session
    )
    output = bytearray()

    async def _drain() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(4096):
            output.extend(chunk)

    return proc, output, asyncio.create_task(_drain())


async def test_up_provisions_the_demo_and_fills_the_printed_alert(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    proc, output, reader = await start_up(data_dir)
    try:
        await wait_until(lambda: b"Press Ctrl-C to stop" in output, timeout=60,
                         message="the demo banner")
        demo = json.loads((data_dir / "demo.json").read_text())
        for key in ("webhook_url", "secret", "tenant_id", "account_id", "strategy",
                    "api_url", "metrics_url", "nats_url"):
            assert demo[key], key
        assert oct((data_dir / "demo.json").stat().st_mode & 0o777) == "0o600"
        # A fresh install makes its master key, readable by its owner only.
        assert oct((data_dir / "master.key").stat().st_mode & 0o777) == "0o600"
        assert demo["webhook_url"] in output.decode()
        assert "curl" in output.decode()

        # The supervisor restarts a service that dies.
        match = re.search(rb"started validator \(pid (\d+)\)", bytes(output))
        assert match is not None
        os.kill(int(match.group(1)), signal.SIGKILL)
        await wait_until(lambda: b"validator exited" in output and
                         output.count(b"started validator") >= 2, timeout=30,
                         message="the validator to be restarted")

        async with aiohttp.ClientSession() as http:
            url = f"{demo['webhook_url']}?token={demo['secret']}"
            async with http.post(url, json=tv_alert(price="190.50")) as resp:
                assert resp.status == 202, await resp.text()
                signal_id = (await resp.json())["signal_id"]

            async def executed() -> bool:
                async with http.get(f"{demo['api_url']}/api/v1/signals/{signal_id}",
                                    headers={"X-API-Key": demo["admin_key"]}) as r:
                    return r.status == 200 and (await r.json())["status"] == "executed"

            await wait_until(executed, timeout=30, message="the demo alert to fill")
            async with http.get(f"{demo['api_url']}/api/v1/accounts/{demo['account_id']}",
                                headers={"X-API-Key": demo["admin_key"]}) as r:
                account = await r.json()
            assert account["fills"] == 1
            async with http.get(demo["metrics_url"]) as r:
                metrics = await r.text()
            # The operator side is not on the public (webhook) listener.
            public = demo["webhook_url"].removesuffix(f"/webhook/{demo['strategy']}")
            for path in ("/metrics", "/api/v1/tenants", "/openapi.json"):
                async with http.get(public + path,
                                    headers={"X-API-Key": demo["admin_key"]}) as r:
                    assert r.status == 404, path
            # Counters from the other processes show up on ingress's /metrics.
            assert 'tradehooks_events_stored_total{type="webhook.trade_executed"}' in metrics
    finally:
        # Ctrl-C in a terminal signals the whole process group, services included.
        stopped_at = len(output)
        os.killpg(proc.pid, signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), timeout=60)
        await reader
    after_stop = bytes(output[stopped_at:])
    assert b"restarting" not in after_stop, after_stop.decode()
    for service in (b"auditor", b"validator", b"risk", b"executor", b"sl-tp-monitor",
                    b"ingress"):
        assert service + b" stopped" in after_stop, service
    assert code == 0, output.decode()[-2000:]
    assert b"Traceback" not in output, output.decode()[-4000:]


async def test_nothing_outlives_a_killed_up(tmp_path: Path) -> None:
    proc, output, reader = await start_up(tmp_path / "var")
    await wait_until(lambda: b"Press Ctrl-C to stop" in output, timeout=60,
                     message="the demo banner")
    children = [int(pid) for pid in re.findall(rb"started [\w-]+ \(pid (\d+)\)", bytes(output))]
    nats_port = json.loads((tmp_path / "var" / "demo.json").read_text())["nats_url"]
    assert len(children) == len(SUPERVISED)  # every service
    proc.kill()  # SIGKILL: no chance to stop anything itself
    await proc.wait()
    await reader

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    await wait_until(lambda: not any(alive(pid) for pid in children), timeout=30,
                     message="every service to notice and stop")
    port = int(nats_port.rsplit(":", 1)[1])

    async def nats_gone() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return True
        writer.close()
        return False

    await wait_until(nats_gone, timeout=15, message="the embedded nats-server to stop")
