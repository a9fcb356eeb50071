"""Crashes lose nothing; the projections can always be rebuilt from the store."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import BACKENDS, ROOT, EventTap, System, provision, wait_until

from contracts.events import event_type
from projections.store import open_store
from services.runtime.bus import Bus

pytestmark = pytest.mark.e2e


def stored_event_ids(system: System) -> list[str]:
    """Every pipeline event id in the event store, in store order."""
    store = open_store(system.database_url or f"sqlite:///{system.data_dir / 'events.sqlite'}")
    try:
        return [ev.event_id for _, ev in store.iter_events()]
    finally:
        store.close()


@pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
async def test_killing_the_auditor_mid_stream_loses_no_event(system: System, bus: Bus,
                                                             tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts")
    url = f"{system.api_url}/webhook/{t.strategy.slug}?token={t.strategy.secret}"
    signal_ids: list[str] = []
    async with aiohttp.ClientSession() as http:
        for i in range(40):
            status, body = await post_json(http, url, tv_alert(price=str(100 + i)))
            assert status == 202
            signal_ids.append(body["signal_id"])
            if i == 10:
                system.kill("auditor")  # SIGKILL while events keep flowing
            if i == 25:
                system.start("auditor")
    for signal_id in signal_ids:
        await tap.wait_terminal(signal_id)
    published = [e.event_id for e in tap.events]
    await wait_until(lambda: len(stored_event_ids(system)) >= len(published), timeout=30,
                     message="the auditor to store every published event")
    stored = stored_event_ids(system)
    assert sorted(stored) == sorted(published)  # each exactly once
    assert len(set(stored)) == len(stored)

    async with (aiohttp.ClientSession() as http,
                http.get(f"{system.api_url}/api/v1/accounts/{t.account.id}",
                         headers=system.admin_headers) as resp):
        account = await resp.json()
    assert account["fills"] == 40
    assert account["positions"][0]["quantity"] == "40"


async def test_replay_rebuilds_the_same_projection(system: System, bus: Bus,
                                                   tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts")
    url = f"{system.api_url}/webhook/{t.strategy.slug}?token={t.strategy.secret}"
    trades = [("buy", "5", "100"), ("buy", "5", "110"), ("sell", "1", "120")]
    async with aiohttp.ClientSession() as http:
        for action, qty, price in trades:
            _, body = await post_json(http, url, tv_alert(action=action, contracts=qty,
                                                          price=price))
            await tap.wait_terminal(body["signal_id"])

        async def account() -> dict | None:
            async with http.get(f"{system.api_url}/api/v1/accounts/{t.account.id}",
                                headers=system.admin_headers) as resp:
                data = await resp.json()
                return data if data.get("fills") == 3 else None

        before = await wait_until(account, message="three fills in the projection")
        # Stop the auditor so nothing moves while we rebuild.
        assert system.terminate("auditor") == 0
        result = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "services.cli.main", "replay"],
            env=system.env(), cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "identical to the live projection: yes" in result.stdout
        after = await account()
    assert after == before
    assert before["realised_pnl"] != "0"
    assert [event_type(e) for e in tap.events if e.signal_id.startswith("account:")] == [
        "registry.account_opened"]
