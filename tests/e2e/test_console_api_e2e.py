"""The operator routes the web console uses: pause/resume, test alerts, analytics."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from harness import System, provision, wait_until

from contracts import streams
from libs.registry.api_keys import ApiKeys
from libs.runtime.bus import Bus

pytestmark = pytest.mark.e2e


async def _json(resp: aiohttp.ClientResponse) -> Any:
    return await resp.json()


async def test_pause_test_alerts_and_analytics(system: System, bus: Bus) -> None:
    t = await provision(bus, sizing_mode="auto")
    api = f"{system.operator_url}/api/v1"
    keys = ApiKeys(await bus.kv(streams.BUCKET_REGISTRY))
    _, admin = await keys.create("admin", t.tenant.id)
    _, viewer = await keys.create("viewer", t.tenant.id)
    h = {"X-API-Key": admin}
    alert = {"symbol": "AAPL", "action": "buy", "quantity": "2", "price": "100"}
    test_url = f"{api}/strategies/{t.strategy.id}/test"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{api}/whoami", headers={"X-API-Key": viewer}) as r:
            who = await _json(r)
        assert (who["role"], who["tenant_id"]) == ("viewer", t.tenant.id)
        # A viewer can neither test nor pause.
        async with http.post(test_url, json={"alert": alert},
                             headers={"X-API-Key": viewer}) as r:
            assert r.status == 403
        async with http.post(f"{api}/accounts/{t.account.id}/pause",
                             headers={"X-API-Key": viewer}) as r:
            assert r.status == 403
        async with http.post(test_url, json={"alert": {"symbol": "AAPL"}}, headers=h) as r:
            assert r.status == 422 and (await _json(r))["field"].startswith("alert")

        async def status_of(signal_id: str) -> str | None:
            async with http.get(f"{api}/signals/{signal_id}", headers=h) as r:
                return (await _json(r))["status"] if r.status == 200 else None

        async def ended(signal_id: str) -> str:
            return await wait_until(
                lambda: _terminal(status_of(signal_id)), timeout=30,
                message=f"signal {signal_id} to end")

        async with http.post(test_url, json={"alert": alert, "dry_run": True},
                             headers=h) as r:
            assert r.status == 202
            dry = await _json(r)
        assert dry["dry_run"] is True
        async with http.post(test_url, json={"alert": alert, "dry_run": False},
                             headers=h) as r:
            assert r.status == 202
            real = await _json(r)
        # The same alert twice is two tests, never a duplicate.
        assert real["signal_id"] != dry["signal_id"]
        assert await ended(dry["signal_id"]) == "executed"
        assert await ended(real["signal_id"]) == "executed"
        async with http.get(f"{api}/signals/{dry['signal_id']}", headers=h) as r:
            trail = await _json(r)
        received = trail["events"][0]
        assert received["auth_mode"] == "operator" and received["dry_run"] is True

        # Paused: a new signal fails at risk; resumed: it trades again.
        async with http.post(f"{api}/accounts/{t.account.id}/pause", headers=h) as r:
            assert await _json(r) == {"account_id": t.account.id, "paused": True}
        async with http.get(f"{api}/accounts/{t.account.id}/config", headers=h) as r:
            assert (await _json(r))["paused"] is True
        async with http.post(test_url, json={"alert": alert, "dry_run": False},
                             headers=h) as r:
            refused = (await _json(r))["signal_id"]
        assert await ended(refused) == "failed"
        async with http.post(f"{api}/accounts/{t.account.id}/resume", headers=h) as r:
            assert (await _json(r))["paused"] is False

        async def figures() -> dict[str, Any] | None:
            async with http.get(f"{api}/analytics?account_id={t.account.id}",
                                headers={"X-API-Key": viewer}) as r:
                body = await _json(r)
            return body if body["signals"] == 3 and body["in_progress"] == 0 else None

        stats = await wait_until(figures, timeout=30, message="the history to catch up")
    assert (stats["executed"], stats["failed"], stats["dry_runs"]) == (2, 1, 1)
    assert stats["success_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert [e["code"] for e in stats["error_reasons"]] == ["paused"]
    assert (stats["orders"], stats["filled"], stats["fill_rate"]) == (1, 1, 1.0)
    # The paper broker fills 5 bps against the buyer.
    assert Decimal(stats["slippage_bps_avg"]) == Decimal("5.00")
    assert stats["latency_p50_ms"] > 0 and stats["latency_p99_ms"] >= stats["latency_p50_ms"]
    assert stats["strategies"][0]["strategy_id"] == t.strategy.id


async def _terminal(status: Any) -> str | None:
    value = await status
    return value if value in ("executed", "failed") else None
