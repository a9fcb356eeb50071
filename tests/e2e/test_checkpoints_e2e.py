"""The auditor of a running system signs the chain head by itself (every few rows or
half a second here), and ``tradehooks verify`` checks the newest checkpoint."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import ROOT, EventTap, System, provision, running_system, wait_until

from libs.runtime.bus import Bus
from libs.runtime.embedded_nats import EmbeddedNats
from projections import checkpoint as cp
from projections.persistence import parse_store_url
from projections.store import open_store

pytestmark = pytest.mark.e2e


@pytest.fixture
async def signing_system(nats_server: EmbeddedNats, bus: Bus, tmp_path: Path,
                         monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[System]:
    """The system, its auditor holding a checkpoint key."""
    cp.new_key(tmp_path / "checkpoint.key")
    monkeypatch.setenv("TRADEHOOKS_CHECKPOINT_KEY", str(tmp_path / "checkpoint.key"))
    monkeypatch.setenv("TRADEHOOKS_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("TRADEHOOKS_CHECKPOINT_EVERY_EVENTS", "5")
    monkeypatch.setenv("TRADEHOOKS_CHECKPOINT_INTERVAL_S", "0.5")
    async with running_system(nats_server, bus, tmp_path / "data", "") as sut:
        yield sut


async def test_the_auditor_signs_the_chain_head_and_verify_checks_it(
        signing_system: System, bus: Bus, tap: EventTap, tmp_path: Path) -> None:
    system = signing_system
    t = await provision(bus)
    where = parse_store_url(system.store_url).describe()

    def head() -> int:
        store = open_store(system.store_url)
        try:
            return store.max_position()
        finally:
            store.close()

    async def alert_then_signed(price: str, after: int) -> int:
        """An alert; then, once its events are stored, a checkpoint of the new head."""
        async with aiohttp.ClientSession() as http:
            _, accepted = await post_json(http, system.webhook_url(t.strategy),
                                          tv_alert(symbol="SIGN", price=price))
        await tap.wait_terminal(accepted["signal_id"])
        stored = await wait_until(lambda: head() if head() > after else 0, 30,
                                  message="the alert's events to be stored")

        def signed() -> int:
            newest = cp.newest(tmp_path / "checkpoints", where)
            return newest.position if newest is not None and newest.position >= \
                stored else 0
        position: int = await wait_until(signed, 30, message="a checkpoint of the head")
        return position

    first = await alert_then_signed("100", 0)
    second = await alert_then_signed("101", first)
    assert second > first  # the auditor went on signing, not only once
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "cli.main", "verify"], env=system.env(),
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "signature holds for the given key" in result.stdout
    assert "the signed checkpoint at position" in result.stdout
    assert "matches" in result.stdout
