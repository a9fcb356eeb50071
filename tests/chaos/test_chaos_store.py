"""The PostgreSQL event store goes away mid-load and comes back.

The outage is targeted at this test's own role (see :mod:`chaos.pg` for why it
stands in for a server restart): its sessions are terminated, new ones refused.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import pytest
from chaos.invariants import assert_mixed_load_happened, verify_run
from chaos.load import MovingPrices, make_alerts, provision_mixed, run_load
from chaos.pg import own_store, store_outage
from harness import System, log_size

from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.postgres,
              pytest.mark.timeout(90)]
SEED = 6_003


@pytest.fixture
def pg_store() -> Iterator[tuple[str, str]]:
    """The store URL and the role that owns it; dropped afterwards."""
    url, role, drop = own_store()
    try:
        yield url, role
    finally:
        drop()


@pytest.fixture
def store_url(pg_store: tuple[str, str]) -> str:
    """The system fixture's store: this test's own PostgreSQL role and schema."""
    return pg_store[0]


async def test_store_outage_mid_load_loses_nothing_and_refuses_nothing(
        system: System, bus: Bus, pg_store: tuple[str, str]) -> None:
    rng = random.Random(SEED)
    mixed = await provision_mixed(bus, breaker=True)
    alerts = make_alerts(mixed.all, 240, rng, mixed.symbols)
    # The auditor says so, with its traceback, while the store is away: expected here.
    system.expect_traceback("auditor could not store")
    async with MovingPrices(system, bus, mixed, rng) as prices:
        load = asyncio.create_task(run_load(system.api_url, alerts, rate_per_s=20))
        await asyncio.sleep(rng.uniform(3.0, 5.0))  # the fault schedule
        before = log_size(system, "auditor")
        terminated = await store_outage(pg_store[1], rng.uniform(3.0, 4.5))
        await load
    assert terminated > 0, "the outage found no session of the store to cut"
    auditor_log = (system.data_dir / "auditor.log").read_bytes()[before:]
    assert b"could not store" in auditor_log, "the auditor never noticed the outage"

    # The store is not on the accept path: webhooks were taken all along.
    refused = [a for alert in alerts for a in alert.attempts if a.status != 202]
    assert refused == [], refused[:3]
    report = await verify_run(system, bus, alerts, paper=mixed.all)
    print(f"{terminated} sessions cut; {prices}; {report}")
    assert_mixed_load_happened(prices, report)
