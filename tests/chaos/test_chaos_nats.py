"""The nats-server dies (SIGKILL) mid-load and comes back on the same store."""

from __future__ import annotations

import asyncio
import random

import pytest
from chaos.faults import nats_outage
from chaos.invariants import assert_duplicates, assert_mixed_load_happened, verify_run
from chaos.load import MovingPrices, make_alerts, provision_mixed, resend, run_load
from harness import System

from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.timeout(90)]
SEED = 6_002


async def test_nats_restart_mid_load_refuses_fast_and_retries_are_duplicates(
        system: System, bus: Bus) -> None:
    rng = random.Random(SEED)
    mixed = await provision_mixed(bus, breaker=True)
    alerts = make_alerts(mixed.all, 240, rng, mixed.symbols)
    async with MovingPrices(system, bus, mixed, rng) as prices:
        load = asyncio.create_task(run_load(system.api_url, alerts, rate_per_s=20))
        down_s = await nats_outage(system, rng, after_s=(3.0, 5.0), down_s=(3.5, 5.0))
        await load
    # The outage met the load: requests were refused (503 + Retry-After, checked
    # with every answer below) and retried with the same webhook-id until accepted.
    # (How fast the refusals come is measured by bench/outage.py.)
    refused = [alert for alert in alerts if any(a.status == 503 for a in alert.attempts)]
    assert len(refused) >= 10, f"only {len(refused)} alerts met the {down_s:.1f} s outage"

    # A sender that missed an answer sends again: a duplicate of the first signal,
    # across the restart too (before, during and after the outage).
    sample = rng.sample(alerts[:60], 4) + rng.sample(refused, 4) + rng.sample(alerts[-60:], 4)
    assert_duplicates(sample, await resend(system.api_url, sample))

    report = await verify_run(system, bus, alerts, paper=mixed.all)
    print(f"NATS down {down_s:.1f} s; {prices}; {report}")
    assert_mixed_load_happened(prices, report)
