"""kill -9 of every service in turn, under load: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import random

import pytest
from chaos.faults import crash_each
from chaos.invariants import assert_mixed_load_happened, verify_run
from chaos.load import MovingPrices, make_alerts, provision_mixed, run_load
from harness import SERVICES, System, wait_restarted

from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.timeout(90)]
SEED = 6_001


async def test_kill_9_of_each_service_in_turn_loses_and_doubles_nothing(
        system: System, bus: Bus) -> None:
    rng = random.Random(SEED)
    mixed = await provision_mixed(bus, breaker=True)
    alerts = make_alerts(mixed.all, 240, rng, mixed.symbols)
    async with MovingPrices(system, bus, mixed, rng) as prices:
        # 15 s of load; the six crashes (at most 6 x (1.5 + 0.6) s) all fall inside it.
        load = asyncio.create_task(run_load(system.api_url, alerts, rate_per_s=16))
        crashes = await crash_each(system, SERVICES, rng, gap_s=(0.6, 1.5),
                                   down_s=(0.1, 0.6))
        took = await load
    assert [c.service for c in crashes] == list(SERVICES)
    assert crashes[-1].at_s < took, "the last crash came after the load"
    for crash in crashes:
        await wait_restarted(system, crash.service, crash.log_offset)

    # Ingress was down for a while: its requests went unanswered, then were retried.
    report = await verify_run(system, bus, alerts, paper=mixed.all, allow_unanswered=True)
    print(f"{prices}; {report}")
    assert report.unanswered > 0, "the ingress crash never met a request"
    assert_mixed_load_happened(prices, report)
