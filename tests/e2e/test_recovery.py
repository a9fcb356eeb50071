"""Crashes lose nothing; the projections can always be rebuilt from the store."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import (
    BACKENDS,
    ROOT,
    EventTap,
    System,
    account_projection,
    log_size,
    provision,
    stored_event_ids,
    wait_restarted,
    wait_until,
)

from contracts.events import event_type
from libs.runtime.bus import Bus

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
async def test_killing_the_auditor_mid_stream_loses_no_event(system: System, bus: Bus,
                                                             tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts")
    url = system.webhook_url(t.strategy)
    signal_ids: list[str] = []
    async with aiohttp.ClientSession() as http:
        for i in range(40):
            status, body = await post_json(http, url, tv_alert(price=str(100 + i)))
            assert status == 202
            signal_ids.append(body["signal_id"])
            if i == 10:
                system.kill("auditor")  # SIGKILL while events keep flowing
            if i == 25:
                restarted_after = log_size(system, "auditor")
                system.start("auditor")
    for signal_id in signal_ids:
        await tap.wait_terminal(signal_id)
    # Read the store only once the auditor has set it up: PostgreSQL refuses one of
    # two processes creating the tables at the same moment, and the auditor dies of it.
    await wait_restarted(system, "auditor", restarted_after)

    # Every published event stored exactly once (compared until both settle: leg
    # events may still be coming).
    def stored_all() -> bool:
        return sorted(stored_event_ids(system)) == sorted(e.event_id for e in tap.events)

    await wait_until(stored_all, timeout=30,
                     message="the store to hold every published event exactly once")

    account = await account_projection(system, t.account.id, fills=40)
    assert [(p["symbol"], p["quantity"]) for p in account["positions"]] == [("AAPL", "40")]


async def test_replay_rebuilds_the_same_projection(system: System, bus: Bus,
                                                   tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts")
    url = system.webhook_url(t.strategy)
    trades = [("buy", "5", "100"), ("buy", "5", "110"), ("sell", "1", "120")]
    async with aiohttp.ClientSession() as http:
        for action, qty, price in trades:
            _, body = await post_json(http, url, tv_alert(action=action, contracts=qty,
                                                          price=price))
            await tap.wait_terminal(body["signal_id"])

    before = await account_projection(system, t.account.id, fills=3)
    # Stop the auditor so nothing moves while we rebuild.
    assert system.terminate("auditor") == 0
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "cli.main", "replay"],
        env=system.env(), cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "identical to the live projection: yes" in result.stdout
    after = await account_projection(system, t.account.id, fills=3)
    assert after == before
    # Bought 5 at 100.05 and 5 at 110.055 (5 bps slippage): average 105.0525; the
    # exit of 1 contract (the strategy sizes by the alert's contracts) sells 1 at
    # 119.94: (119.94 - 105.0525) x 1, and 9 are left at the same average.
    assert Decimal(before["realised_pnl"]) == Decimal("14.8875")
    assert [(p["symbol"], p["quantity"], Decimal(p["average_price"]))
            for p in before["positions"]] == [("AAPL", "9", Decimal("105.0525"))]
    assert [event_type(e) for e in tap.events if e.signal_id.startswith("account:")] == [
        "registry.account_opened"]
