"""The portfolio breaker on the running system: trip, cancel, liquidate, pause, resume.
Each step is checked on the book the broker holds and the projection, not only on
the events that say so."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal

import aiohttp
import pytest
from e2e.helpers import post_json, post_prices, tv_alert
from harness import (
    ROOT,
    EventTap,
    System,
    Tenancy,
    account_projection,
    account_status,
    book_of,
    paper_orders,
    provision,
    run_replay,
)

from contracts.events import BreakerTripped, OrderPlaced, TradeExecuted, WebhookFailed
from libs.registry.models import BreakerConfig
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]
D = Decimal


def webhook(system: System, t: Tenancy) -> str:
    return system.webhook_url(t.strategy)


def trips_of(tap: EventTap, account_id: str) -> list[BreakerTripped]:
    return [e for e in tap.events if isinstance(e, BreakerTripped) and e.account_id == account_id]


def sells_of(tap: EventTap, account_id: str) -> list[TradeExecuted]:
    return [e for e in tap.events if isinstance(e, TradeExecuted)
            and e.account_id == account_id and e.fill.side == "sell"]


async def test_stop_loss_breaker_cancels_liquidates_pauses_and_resumes(
        system: System, bus: Bus, tap: EventTap) -> None:
    breaker = BreakerConfig(base_equity=D(100_000), global_sl_pct=D(95), global_tp_pct=D(150))
    # Far-away legs keep resting until the breaker trips: it must cancel them.
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="400",
                        max_order_notional=None, attach_sl_tp=True, sl_pct="50", tp_pct="90",
                        account_fields={"breaker": breaker})
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, webhook(system, t), tv_alert(symbol="ACME",
                                                                      price="100"))
        assert isinstance(await tap.wait_terminal(entry["signal_id"]), TradeExecuted)
        await tap.wait_for(lambda evs: len([e for e in evs if isinstance(e, OrderPlaced)
                                            and e.order.leg]) == 2)
        coid = tap.of_type("order.requested", entry["signal_id"])[0].order.client_order_id  # type: ignore[union-attr]
        # ACME falls to 80: 400 bought at 100.05 (5 bps slippage) are worth 32,000
        # next to 59,980 cash: equity 91,980, below 95% of 100,000.
        assert await post_prices(http, system.operator_url, {"symbol": "ACME", "price": "80"},
                                 system.admin_key) == 202
        (trip,) = await tap.wait_for(lambda _: trips_of(tap, t.account.id))
        assert (trip.kind, trip.paused, trip.liquidating) == ("sl", True, ["ACME"])
        assert (trip.equity, trip.threshold) == (D(91_980), D("95000.00"))
        assert sorted(trip.canceled_orders) == [f"{coid}-sl", f"{coid}-tp"]
        (liquidation,) = await tap.wait_for(lambda _: sells_of(tap, t.account.id))
        assert (liquidation.fill.quantity, liquidation.fill.position_quantity) == (D(400), 0)

        # The book: legs cancelled, the position sold at 79.96, nothing resting.
        orders = await paper_orders(bus, t.account.id)
        assert book_of(orders) == {
            coid: ("buy", "400", "filled"), f"{coid}-sl": ("sell", "400", "canceled"),
            f"{coid}-tp": ("sell", "400", "canceled"),
            liquidation.fill.client_order_id: ("sell", "400", "filled")}
        status = await account_status(system, t.account.id)
        assert (status["positions"], status["open_orders"], status["paused"]) == (
            {}, [], True)
        assert D(status["cash"]) == D(59_980) + D(400) * D("79.96")

        _, blocked = await post_json(http, webhook(system, t),
                                     tv_alert(symbol="ACME", price="80.5"))
        paused = await tap.wait_terminal(blocked["signal_id"])
        assert isinstance(paused, WebhookFailed)
        assert (paused.stage, paused.code) == ("risk", "paused")

        # Resume from the CLI (the HTTP route does the same).
        result = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "cli.main", "resume",
                             t.account.id],
            env=system.env(), cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        async with http.post(f"{system.operator_url}/api/v1/accounts/nope/resume",
                             headers=system.admin_headers) as resp:
            assert resp.status == 404
        _, after = await post_json(http, webhook(system, t),
                                   tv_alert(symbol="ACME", price="81"))
        resumed = await tap.wait_terminal(after["signal_id"])
    assert isinstance(resumed, TradeExecuted)
    # The same configuration does not trip again (it was edited: it would re-arm).
    assert len(trips_of(tap, t.account.id)) == 1
    assert tap.of_type("account.resumed")
    status = await account_status(system, t.account.id)
    assert (status["positions"], status["paused"]) == ({"ACME": "400"}, False)
    cash = D(59_980) + D(400) * D("79.96") - D(400) * D("81.0405")
    assert D(status["cash"]) == cash
    # Liquidation fills went through the store: a rebuild gives the live state.
    projected = await account_projection(system, t.account.id, fills=3)
    assert D(projected["cash"]) == cash
    assert [(p["symbol"], p["quantity"]) for p in projected["positions"]] == [("ACME", "400")]
    assert "identical to the live projection: yes" in await run_replay(system)


async def test_take_profit_breaker_liquidates_only_when_asked_and_never_pauses(
        system: System, bus: Bus, tap: EventTap) -> None:
    def breaker(liquidate: bool) -> BreakerConfig:
        return BreakerConfig(base_equity=D(100_000), global_sl_pct=D(50),
                             global_tp_pct=D(105), liquidate_on_tp=liquidate)

    fields = {"sizing_mode": "fixed_quantity", "fixed_quantity": "400",
              "max_order_notional": None}
    keep = await provision(bus, account_fields={"breaker": breaker(False)}, **fields)
    sell = await provision(bus, account_fields={"breaker": breaker(True)}, **fields)
    async with aiohttp.ClientSession() as http:
        for t in (keep, sell):
            _, entry = await post_json(http, webhook(system, t),
                                       tv_alert(symbol="TPCO", price="100"))
            assert isinstance(await tap.wait_terminal(entry["signal_id"]), TradeExecuted)
        # TPCO rises to 115: 59,980 cash + 46,000 = 105,980, over 105% of 100,000.
        assert await post_prices(http, system.operator_url, {"symbol": "TPCO", "price": "115"},
                                 system.admin_key) == 202
        (kept,) = await tap.wait_for(lambda _: trips_of(tap, keep.account.id))
        (sold,) = await tap.wait_for(lambda _: trips_of(tap, sell.account.id))
        (liquidation,) = await tap.wait_for(lambda _: sells_of(tap, sell.account.id))
        # Neither account is paused: both trade on.
        for t in (keep, sell):
            _, more = await post_json(http, webhook(system, t),
                                      tv_alert(symbol="MORE", contracts="1", price="10"))
            assert isinstance(await tap.wait_terminal(more["signal_id"]), TradeExecuted)
    for trip in (kept, sold):
        assert (trip.kind, trip.paused, trip.reason) == ("tp", False, "")
        assert (trip.equity, trip.threshold) == (D(105_980), D("105000.00"))
    assert (kept.liquidating, sold.liquidating) == ([], ["TPCO"])
    assert sells_of(tap, keep.account.id) == []
    assert liquidation.fill.quantity == D(400)

    kept_status = await account_status(system, keep.account.id)
    assert (kept_status["positions"], kept_status["paused"]) == (
        {"MORE": "400", "TPCO": "400"}, False)
    sold_status = await account_status(system, sell.account.id)
    assert (sold_status["positions"], sold_status["paused"]) == ({"MORE": "400"}, False)
    # Sold the 400 at 114.9425 (115 less 5 bps), then bought 400 MORE at 10.005.
    cash = D(59_980) + D(400) * D("114.9425") - D(400) * D("10.005")
    assert D(sold_status["cash"]) == cash
    projected = await account_projection(system, sell.account.id, fills=3)
    assert D(projected["cash"]) == cash
    assert len(trips_of(tap, keep.account.id)) == len(trips_of(tap, sell.account.id)) == 1
