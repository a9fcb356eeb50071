"""Orphan cleanup on demand, and the status endpoint, on the running system."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import EventTap, System, paper_orders, plant_order, provision, wait_until

from contracts import streams
from contracts.events import LegCanceled
from contracts.orders import BrokerOrder, OrderRequest
from libs.runtime.bus import Bus
from services.executor.open_orders import OpenOrder, OpenOrders

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]


async def test_cleanup_cancels_orphan_legs_and_status_reports_the_account(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="3")
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, url, tv_alert(symbol="HELD", price="50"))
        await tap.wait_terminal(entry["signal_id"])

    # A stop-loss leg left behind for a symbol the account no longer holds (as an
    # older version, or a broker without atomic OCO, could leave one): planted in the
    # paper broker's own state, since the broker refuses to place such a leg today.
    leg = BrokerOrder(order_id="old", client_order_id="old-entry-sl", symbol="GONE",
                      side="sell", quantity=Decimal(5), order_type="stop", status="open",
                      submitted_at=datetime.now(UTC), stop_price=Decimal(90), leg="sl",
                      oco_group="old-entry")
    await plant_order(bus, t.account.id, leg)
    await OpenOrders(await bus.kv(streams.BUCKET_OPEN_ORDERS)).remember(OpenOrder(
        client_order_id=leg.client_order_id, signal_id="old-signal", tenant_id=t.tenant.id,
        strategy_id=t.strategy.id, account_id=t.account.id, broker="paper", symbol="GONE",
        request=OrderRequest(client_order_id="old-entry-sl", symbol="GONE", side="sell",
                             quantity=Decimal(5), intent="close", order_type="stop",
                             stop_price=Decimal(90), leg="sl", oco_group="old-entry")))

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{system.operator_url}/api/v1/status", headers=system.admin_headers,
                            params={"account_id": t.account.id}) as resp:
            assert resp.status == 200
            status = (await resp.json())["accounts"][0]
        assert status["positions"] == {"HELD": "3"}
        assert [o["client_order_id"] for o in status["open_orders"]] == ["old-entry-sl"]
        assert status["strategies"] == [{"id": t.strategy.id, "slug": t.strategy.slug,
                                         "enabled": True}]
        assert status["paused"] is False

        async with http.post(f"{system.operator_url}/api/v1/cleanup",
                             headers=system.admin_headers) as resp:
            assert resp.status == 200
            canceled = (await resp.json())["canceled"]
        assert canceled == [{"account_id": t.account.id, "symbol": "GONE",
                             "client_order_id": "old-entry-sl", "action": "cancel",
                             "reason": "orphan: no position in GONE to protect"}]
        # The executor carried it out before the answer: the book shows it.
        async with http.get(f"{system.operator_url}/api/v1/status", headers=system.admin_headers,
                            params={"account_id": t.account.id}) as resp:
            after = (await resp.json())["accounts"][0]
        assert (after["positions"], after["open_orders"], after["cash"]) == (
            {"HELD": "3"}, [], status["cash"])
        async with http.get(f"{system.operator_url}/api/v1/status", headers=system.admin_headers,
                            params={"account_id": "nope"}) as resp:
            assert resp.status == 404

    recorded = await tap.wait_for(lambda evs: [
        e for e in evs if isinstance(e, LegCanceled) and e.signal_id == "old-signal"])
    assert recorded[0].leg == "sl"
    assert recorded[0].reason == "orphan: no position in GONE to protect"
    orders = await paper_orders(bus, t.account.id)
    assert (orders["old-entry-sl"].status, orders["old-entry-sl"].quantity) == (
        "canceled", Decimal(5))
    assert [(o.symbol, o.side, o.quantity, o.status) for o in orders.values() if not o.leg] == [
        ("HELD", "buy", Decimal(3), "filled")]


async def test_an_unreachable_broker_does_not_hide_the_other_accounts(system: System,
                                                                      bus: Bus) -> None:
    from ports import free_port

    paper = await provision(bus)
    # Nothing listens on this port: every Alpaca call of the account fails fast.
    dead = await provision(bus, account_fields={
        "broker": "alpaca", "alpaca": {"key_id": "PK", "secret_key": "sk",
                                       "url_override": f"http://127.0.0.1:{free_port()}"}})
    async def both_listed() -> dict[str, dict[str, Any]] | None:
        # The operator service learns of new accounts from its registry watch.
        async with aiohttp.ClientSession() as http, http.get(
                f"{system.operator_url}/api/v1/status", headers=system.admin_headers) as resp:
            assert resp.status == 200
            listed = {a["account_id"]: a for a in (await resp.json())["accounts"]}
        return listed if {paper.account.id, dead.account.id} <= listed.keys() else None

    accounts = await wait_until(both_listed, message="the status to list both accounts")
    assert accounts[paper.account.id]["broker_error"] is None
    assert accounts[paper.account.id]["equity"] == "100000"
    broken = accounts[dead.account.id]
    assert broken["broker_error"].startswith("broker unavailable")
    assert (broken["equity"], broken["positions"], broken["open_orders"]) == (None, {}, [])
    assert "sk" not in str(broken)
