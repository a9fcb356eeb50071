"""One account's order across an executor crash (found by the broker fault test)."""

from __future__ import annotations

import asyncio
import random

import pytest
from chaos.faults import kill_executor_between_submit_and_ack
from chaos.invariants import check_fill_order, verify_run
from chaos.load import make_alerts, provision_many, run_load
from harness import System

from services.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.timeout(90)]
SEED = 6_005


async def test_an_accounts_fills_keep_broker_order_across_an_executor_crash(
        system: System, bus: Bus) -> None:
    rng = random.Random(SEED)
    tenancies = await provision_many(bus, 1)
    alerts = make_alerts(tenancies, 100, rng)
    load = asyncio.create_task(run_load(system.api_url, alerts, rate_per_s=10))
    await asyncio.sleep(rng.uniform(1.0, 2.0))  # the fault schedule
    await kill_executor_between_submit_and_ack(system, bus, tenancies)
    await load
    report = await verify_run(system, bus, alerts, paper=tenancies)
    await check_fill_order(bus, system, tenancies, report.events)
