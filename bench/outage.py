"""How fast ingress refuses while NATS is away: the latency of its 503 answers.

Ingress knows NATS is unreachable and answers 503 at once instead of holding each
request for its whole accept budget (2.5 s; TradingView gives up after 3 s). The
chaos tests check that every refusal is a retryable 503 within that deadline; the
speed of the refusals is measured here, not asserted in a test.

Everything runs on this machine: a private nats-server and one ingress process.
Alerts are posted at a steady rate while the server is down (killed, as in the
chaos test), then the server comes back.

    .venv/bin/python -m bench.outage                    # 200 alerts at 50/s
    .venv/bin/python -m bench.outage --alerts 500 --rate 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import TEST_MASTER_KEY, System, connect_bus, provision  # noqa: E402

from bench.load import percentile  # noqa: E402
from bench.results_file import save_results  # noqa: E402
from libs.runtime.embedded_nats import EmbeddedNats, free_port  # noqa: E402


async def post_while_down(url: str, alerts: int, rate: float) -> list[tuple[int, float]]:
    """``alerts`` posts at ``rate`` per second (open loop): (status, seconds) each."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async def one(n: int) -> tuple[int, float]:
            await asyncio.sleep(max(0.0, started + n / rate - loop.time()))
            body = {"alertId": uuid.uuid4().hex, "action": "buy", "symbol": "AAPL",
                    "quantity": "1", "price": "100"}
            sent = time.perf_counter()
            async with http.post(url, json=body) as resp:
                await resp.read()
                return resp.status, time.perf_counter() - sent

        return list(await asyncio.gather(*(one(n) for n in range(alerts))))


async def main(args: argparse.Namespace) -> int:
    """Start NATS and ingress, kill NATS, post, report."""
    os.environ.setdefault("TRADEHOOKS_MASTER_KEY", TEST_MASTER_KEY)
    tmp = Path(tempfile.mkdtemp(prefix="bench-outage-"))
    nats = EmbeddedNats(tmp / "nats", port=free_port())
    await nats.start()
    bus = await connect_bus(nats.url)
    (tmp / "data").mkdir()
    system = System(nats=nats, data_dir=tmp / "data", database_url="", http_port=free_port())
    results: dict[str, Any] = {"settings": vars(args)}
    try:
        system.start("ingress")
        await system.wait_ready()
        t = await provision(bus)
        url = system.webhook_url(t.strategy)
        await bus.close()
        nats.stop(kill=True)
        answers = await post_while_down(url, args.alerts, args.rate)
        refused = [s for status, s in answers if status == 503]
        results.update({
            "statuses": dict(Counter(str(status) for status, _ in answers)),
            "p50_ms": round(percentile(refused, 50), 1),
            "p99_ms": round(percentile(refused, 99), 1),
            "max_ms": round(max(refused, default=0.0) * 1000, 1),
        })
    finally:
        system.stop_all()
        nats.stop()
    print(f"503 while NATS is down: {results}")
    save_results("outage", results)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
