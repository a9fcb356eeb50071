"""A server ``-ERR`` and a dropped connection in each service, under load.

nats-py closes a connection for good on most ``-ERR`` answers of the server (a
subject over its line limit, say). Each service reaches NATS through its own proxy
(``tests/nats_proxy.py``), which delivers that ``-ERR`` to exactly one service's
connection, or cuts it. Every service must be working again within seconds, on a
fresh connection after the ``-ERR`` and on its reconnected one after the cut, and
the run must keep every invariant: nothing lost, nothing doubled.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from chaos.faults import log_size, wait_restarted
from chaos.invariants import verify_run
from chaos.load import make_alerts, provision_many, run_load
from harness import SERVICES, System, running_system
from nats_proxy import NatsProxy

from libs.runtime.bus import Bus
from libs.runtime.embedded_nats import EmbeddedNats

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.timeout(150)]
SEED = 6_010
# A service must be connected and working again within this long after a fault.
RECOVERY_S = 15.0


@pytest.fixture
async def proxies(nats_server: EmbeddedNats) -> AsyncIterator[dict[str, NatsProxy]]:
    fronts = {service: NatsProxy(nats_server.port) for service in SERVICES}
    for front in fronts.values():
        await front.start()
    yield fronts
    for front in fronts.values():
        await front.stop()


@pytest.fixture
async def proxied(nats_server: EmbeddedNats, bus: Bus, tmp_path: Path,
                  proxies: dict[str, NatsProxy]) -> AsyncIterator[System]:
    urls = {service: proxy.url for service, proxy in proxies.items()}
    async with running_system(nats_server, bus, tmp_path / "data", "", urls) as sut:
        yield sut


async def test_an_err_and_a_cut_in_each_service_lose_and_double_nothing(
        proxied: System, proxies: dict[str, NatsProxy], bus: Bus) -> None:
    system = proxied
    rng = random.Random(SEED)
    tenancies = await provision_many(bus, 4)
    alerts = make_alerts(tenancies, 240, rng)
    load = asyncio.create_task(run_load(system.api_url, alerts, rate_per_s=12))
    for service in SERVICES:
        proxy = proxies[service]
        await asyncio.sleep(rng.uniform(0.3, 1.0))  # the fault schedule
        # The server's -ERR: the connection is closed for good; the service must
        # make a fresh one and build its consumers, watches and handles again.
        made, offset = proxy.connections, log_size(system, service)
        assert proxy.inject_err() >= 1, f"{service} had no connection to break"
        await proxy.wait_connections(made + 1, RECOVERY_S)
        await wait_restarted(system, service, offset, RECOVERY_S)
        # A cut: nats-py reconnects by itself, on the same connection object.
        made = proxy.connections
        assert proxy.disconnect() >= 1
        await proxy.wait_connections(made + 1, RECOVERY_S)
    took = await load
    assert all(system.processes[s].poll() is None for s in SERVICES), system.logs()

    report = await verify_run(system, bus, alerts, paper=tenancies)
    print(f"load took {took:.1f} s; {report}")
