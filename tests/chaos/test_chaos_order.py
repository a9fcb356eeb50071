"""One account's fills keep broker order when an executor dies holding an order.

Found by the broker fault test: the held message came back only after the ack
wait, behind the account's later orders, so the store folded the fills in another
order than the broker made them (realised P&L and average prices differed).
"""

from __future__ import annotations

import asyncio
import random

import pytest
from chaos.faults import (
    freeze_executor_after_submit,
    kill_executor_between_submit_and_ack,
    last_fill_id,
)
from chaos.invariants import check_fill_order, verify_run
from chaos.load import make_alerts, provision_many, run_load
from harness import System, Tenancy, wait_restarted, wait_until

from contracts.events import TradeExecuted
from libs.runtime.bus import Bus

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


async def test_an_accounts_fills_keep_broker_order_when_a_hung_executor_dies(
        system: System, bus: Bus) -> None:
    rng = random.Random(SEED + 1)
    tenancies = await provision_many(bus, 1)
    alerts = make_alerts(tenancies, 80, rng)
    load = asyncio.create_task(run_load(system.api_url, alerts, rate_per_s=8))
    await asyncio.sleep(rng.uniform(1.0, 2.0))  # the fault schedule
    # The executor hangs after the broker filled an order, before its ack; a second
    # instance joins and takes the account's next orders; then the hung one dies.
    held, tenancy = await freeze_executor_after_submit(system, bus, tenancies)
    before = await last_fill_id(bus, tenancy)
    system.start("executor", instance="executor-2")
    await wait_restarted(system, "executor-2", 0)
    await wait_until(lambda: _later_fill(bus, tenancy, {before}), timeout=30,
                     message="the second executor to report a fill")
    system.kill("executor")
    await load
    report = await verify_run(system, bus, alerts, paper=tenancies)
    await check_fill_order(bus, system, tenancies, report.events)
    assert held in {e.fill.client_order_id for e in report.events
                    if isinstance(e, TradeExecuted)}


async def _later_fill(bus: Bus, tenancy: Tenancy, known: set[str | None]) -> bool:
    return await last_fill_id(bus, tenancy) not in known
