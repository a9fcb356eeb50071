"""The portfolio breaker on the running system: trip, liquidate, pause, resume."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import ROOT, EventTap, System, account_projection, provision, run_replay

from contracts.events import BreakerTripped, TradeExecuted, WebhookFailed
from services.registry.models import BreakerConfig
from services.runtime.bus import Bus

pytestmark = pytest.mark.e2e


async def test_stop_loss_breaker_liquidates_pauses_and_resumes(system: System, bus: Bus,
                                                               tap: EventTap) -> None:
    breaker = BreakerConfig(base_equity=Decimal(100_000), global_sl_pct=Decimal(95),
                            global_tp_pct=Decimal(150))
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="400",
                        max_order_notional=None, account_fields={"breaker": breaker})
    url = f"{system.api_url}/webhook/{t.strategy.slug}?token={t.strategy.secret}"
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, url, tv_alert(symbol="ACME", price="100"))
        assert isinstance(await tap.wait_terminal(entry["signal_id"]), TradeExecuted)
        # ACME falls to 80: 400 bought at 100.05 (5 bps slippage) are worth 32,000
        # next to 59,980 cash: equity 91,980, below 95% of 100,000.
        await post_json(http, f"{system.api_url}/api/v1/prices",
                        {"symbol": "ACME", "price": "80"}, headers=system.admin_headers)
        trips = await tap.wait_for(lambda evs: [
            e for e in evs if isinstance(e, BreakerTripped) and e.account_id == t.account.id])
        trip = trips[0]
        assert (trip.kind, trip.paused, trip.liquidating) == ("sl", True, ["ACME"])
        assert (trip.equity, trip.threshold) == (Decimal(91_980), Decimal("95000.00"))

        liquidated = await tap.wait_for(lambda evs: [
            e for e in evs if isinstance(e, TradeExecuted) and e.account_id == t.account.id
            and e.signal_id.startswith("breaker:")])
        assert liquidated[0].fill.side == "sell"
        assert liquidated[0].fill.position_quantity == 0

        _, blocked = await post_json(http, url, tv_alert(symbol="ACME", price="80.5"))
        paused = await tap.wait_terminal(blocked["signal_id"])
        assert isinstance(paused, WebhookFailed)
        assert (paused.stage, paused.code) == ("risk", "paused")

        # Resume from the CLI (the HTTP route does the same).
        result = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "services.cli.main", "resume",
                             t.account.id],
            env=system.env(), cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        async with http.post(f"{system.api_url}/api/v1/accounts/nope/resume",
                             headers=system.admin_headers) as resp:
            assert resp.status == 404
        _, after = await post_json(http, url, tv_alert(symbol="ACME", price="81"))
        resumed = await tap.wait_terminal(after["signal_id"])
    assert isinstance(resumed, TradeExecuted)
    # The same configuration does not trip again (it was edited: it would re-arm).
    assert len([e for e in tap.events if isinstance(e, BreakerTripped)
                and e.account_id == t.account.id]) == 1
    assert tap.of_type("account.resumed")
    # Liquidation fills went through the store: a rebuild gives the live state.
    await account_projection(system, t.account.id, fills=3)  # entry, liquidation, entry
    assert "identical to the live projection: yes" in await run_replay(system)
