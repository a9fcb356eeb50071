"""Hypothesis profiles for the bad-input tests, and a live ingress shared per module.

``ci`` (the default) is derandomized: every run tries the same examples, so a
failure reproduces and no example database is written. ``HYPOTHESIS_PROFILE=deep``
searches longer and at random when hunting for new crashes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from fuzz.live import LIVE_SERVICES, Live
from harness import EventTap, System, connect_bus, provision, registry_secrets, running_nats
from hypothesis import HealthCheck, settings
from ports import free_port

settings.register_profile(
    "ci", max_examples=150, deadline=None, derandomize=True, database=None,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "deep", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    """One system per test module: starting processes is the slow part."""
    root: Path = tmp_path_factory.mktemp("live")
    async with running_nats(root) as server:
        bus = await connect_bus(server.url)
        data_dir = root / "data"
        data_dir.mkdir()
        system = System(nats=server, data_dir=data_dir, database_url="",
                        http_port=free_port())
        tap = EventTap(bus)
        await tap.start()
        try:
            for service in LIVE_SERVICES:
                system.start(service)
            await system.wait_ready()
            yield Live(system, bus, tap, await provision(bus))
        except BaseException:
            print(system.logs())
            raise
        finally:
            await asyncio.to_thread(system.stop_all)
            await tap.stop()
            secrets = await registry_secrets(bus)
            await bus.close()
        system.assert_no_tracebacks()  # shutting down included
        system.assert_no_secrets(secrets)
        tap.check()


@pytest.fixture(autouse=True)
def _no_tracebacks(request: pytest.FixtureRequest) -> Iterator[None]:
    """The shared live system's logs, per test: what this test made them say."""
    if "live" not in request.fixturenames:
        yield
        return
    system: System = request.getfixturevalue("live").system
    before = system.log_offsets()
    yield
    system.assert_no_tracebacks(since=before)
    request.getfixturevalue("live").tap.check()
