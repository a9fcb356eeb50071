"""``tradehooks register FILE`` puts accounts and strategies into a running registry."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from harness import ROOT, EventTap, master_box

from contracts import streams
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.embedded_nats import EmbeddedNats


def run_register(nats: EmbeddedNats, file: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NATS_URL": nats.url}
    return subprocess.run([sys.executable, "-m", "cli.main", "register", str(file)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)


async def test_register_creates_an_alpaca_account_and_a_strategy(
        nats_server: EmbeddedNats, bus: Bus, tap: EventTap, tmp_path: Path) -> None:
    file = tmp_path / "registry.json"
    file.write_text(json.dumps({
        "tenants": [{"id": "acme", "name": "Acme"}],
        "accounts": [{"id": "acme-alpaca", "tenant_id": "acme", "name": "Live-ish",
                      "broker": "alpaca",
                      "alpaca": {"key_id": "PKTEST", "secret_key": "not-in-events"}}],
        "strategies": [{"id": "gold", "tenant_id": "acme", "account_id": "acme-alpaca",
                        "name": "DynamicGoldBreakout", "symbol": "GLD"}],
    }))

    first = await asyncio.to_thread(run_register, nats_server, file)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "/webhook/acme/dynamic-goldbreakout" in first.stdout
    assert "secret (shown once): whsec_" in first.stdout

    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    strategy = await registry.strategy("gold")
    account = await registry.account("acme-alpaca")
    assert strategy is not None and account is not None
    assert (strategy.slug, strategy.symbol, account.broker) == (
        "dynamic-goldbreakout", "GLD", "alpaca")

    # Registering again keeps the secret (and does not show it again).
    again = await asyncio.to_thread(run_register, nats_server, file)
    assert again.returncode == 0
    assert "secret (shown once)" not in again.stdout
    assert (await registry.strategy("gold")).secret == strategy.secret  # type: ignore[union-attr]

    # At rest the secrets are sealed: the bucket holds neither in plain text.
    for key in ("strategy.gold", "account.acme-alpaca"):
        raw = (await bus.js.key_value(streams.BUCKET_REGISTRY)).get(key)
        stored = (await raw).value or b""
        assert strategy.secret.encode() not in stored
        assert b"not-in-events" not in stored
        assert b"enc:" in stored

    await tap.wait_for(lambda evs: len([e for e in evs if e.signal_id == "strategy:gold"]) >= 1)
    published = b"".join(data for _, data in tap.raw)
    assert b"not-in-events" not in published
    assert strategy.secret.encode() not in published


async def test_register_refuses_a_strategy_for_an_unknown_account(
        nats_server: EmbeddedNats, bus: Bus, tmp_path: Path) -> None:
    file = tmp_path / "bad.json"
    file.write_text(json.dumps({"strategies": [
        {"id": "x", "tenant_id": "t", "account_id": "nope", "name": "X"}]}))
    result = await asyncio.to_thread(run_register, nats_server, file)
    assert result.returncode == 2
    assert "account nope is unknown" in result.stdout


async def test_register_refuses_settings_out_of_range_naming_each_field(
        nats_server: EmbeddedNats, bus: Bus, tmp_path: Path) -> None:
    file = tmp_path / "units.json"
    file.write_text(json.dumps({
        "tenants": [{"id": "t", "name": "T"}],
        "accounts": [{"id": "a", "tenant_id": "t", "name": "A",
                      "breaker": {"base_equity": "100000", "global_sl_pct": "0.9"}}],
        "strategies": [{"id": "s", "tenant_id": "t", "account_id": "a", "name": "S",
                        "sl_pct": "150"}]}))
    result = await asyncio.to_thread(run_register, nats_server, file)
    assert result.returncode == 2
    assert "accounts.0.breaker.global_sl_pct: must be a percent of base_equity" in result.stdout
    assert "strategies.0.sl_pct: must be a percent above 0 and below 100" in result.stdout
    # Nothing of the file was applied.
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    assert await registry.tenant("t") is None
