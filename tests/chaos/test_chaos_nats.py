"""The nats-server dies (SIGKILL) mid-load and comes back on the same store."""

from __future__ import annotations

import asyncio
import random

import pytest
from chaos.faults import nats_outage
from chaos.invariants import assert_duplicates, verify_run
from chaos.load import make_alerts, provision_many, resend, run_load
from harness import System

from services.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.timeout(90)]
SEED = 6_002


async def test_nats_restart_mid_load_refuses_fast_and_retries_are_duplicates(
        system: System, bus: Bus) -> None:
    rng = random.Random(SEED)
    tenancies = await provision_many(bus, 4)
    alerts = make_alerts(tenancies, 240, rng)
    load = asyncio.create_task(run_load(system.api_url, alerts, rate_per_s=20))
    down_s = await nats_outage(system, rng, after_s=(3.0, 5.0), down_s=(3.5, 5.0))
    await load
    # The outage met the load: requests were refused (503 + Retry-After, checked
    # with every answer below) and retried with the same webhook-id until accepted.
    refused = [alert for alert in alerts if any(a.status == 503 for a in alert.attempts)]
    assert len(refused) >= 10, f"only {len(refused)} alerts met the {down_s:.1f} s outage"
    # Refused at once while NATS is known to be away, not after a wait: only the
    # few requests in flight at the crash may take the accept budget (2.5 s).
    waits = sorted(a.elapsed_s for alert in refused for a in alert.attempts if a.status == 503)
    assert waits[len(waits) // 2] < 0.5, f"503s were slow: {[round(w, 2) for w in waits]}"

    # A sender that missed an answer sends again: a duplicate of the first signal,
    # across the restart too (before, during and after the outage).
    sample = rng.sample(alerts[:60], 4) + rng.sample(refused, 4) + rng.sample(alerts[-60:], 4)
    assert_duplicates(sample, await resend(system.api_url, sample))

    report = await verify_run(system, bus, alerts, paper=tenancies)
    print(f"NATS down {down_s:.1f} s; {report}")
    assert report.executed >= 150, report
