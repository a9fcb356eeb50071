"""Protective SL/TP legs on the running system (paper broker): each test ends by
reading the book back from the broker (orders, position, cash) and the projection."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import (
    EventTap,
    System,
    account_projection,
    account_status,
    book_of,
    paper_orders,
    provision,
    run_replay,
    tick,
)

from contracts.events import AnyEvent, LegCanceled, LegFilled, OrderPlaced
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]
D = Decimal


def legs_placed(tap: EventTap, signal_id: str) -> dict[str, OrderPlaced]:
    return {e.order.leg: e for e in tap.of_type("order.placed", signal_id)
            if isinstance(e, OrderPlaced) and e.order.leg}


def of(tap: EventTap, cls: type[AnyEvent], signal_id: str) -> list[AnyEvent]:
    return [e for e in tap.events if isinstance(e, cls) and e.signal_id == signal_id]


async def test_take_profit_fills_and_cancels_the_stop(system: System, bus: Bus,
                                                      tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="10",
                        attach_sl_tp=True, sl_pct="2", tp_pct="5")
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, url, tv_alert(symbol="ACME", price="100"))
    signal_id = entry["signal_id"]
    legs = await tap.wait_for(lambda _: (found := legs_placed(tap, signal_id))
                              and len(found) == 2 and found)
    coid = tap.of_type("order.requested", signal_id)[0].order.client_order_id  # type: ignore[union-attr]
    # Priced off the average fill 100.05: stop 2% below, take-profit 5% above.
    assert (legs["sl"].order.client_order_id, legs["sl"].order.stop_price) == (
        f"{coid}-sl", D("98.05"))
    assert (legs["tp"].order.client_order_id, legs["tp"].order.limit_price) == (
        f"{coid}-tp", D("105.05"))
    assert legs["sl"].order.quantity == legs["tp"].order.quantity == D(10)

    await tick(system, bus, "ACME", "106")
    filled = await tap.wait_for(lambda _: of(tap, LegFilled, signal_id))
    canceled = await tap.wait_for(lambda _: of(tap, LegCanceled, signal_id))
    assert filled[0].leg == "tp"  # type: ignore[union-attr]
    assert filled[0].fill.average_price == D("106")  # type: ignore[union-attr]
    assert filled[0].fill.position_quantity == 0  # type: ignore[union-attr]
    assert canceled[0].leg == "sl"  # type: ignore[union-attr]
    assert "OCO" in canceled[0].reason  # type: ignore[union-attr]

    # The broker's book: bought 10 at 100.05, sold them at 106, the stop is gone.
    assert book_of(await paper_orders(bus, t.account.id)) == {
        coid: ("buy", "10", "filled"), f"{coid}-sl": ("sell", "10", "canceled"),
        f"{coid}-tp": ("sell", "10", "filled")}
    status = await account_status(system, t.account.id)
    assert (status["positions"], status["open_orders"]) == ({}, [])
    assert D(status["cash"]) == D(100_000) - D("1000.5") + D(1060)
    # The leg's fill reaches the account projection like any other fill.
    projected = await account_projection(system, t.account.id, fills=2)
    assert (projected["positions"], D(projected["realised_pnl"])) == ([], D("59.5"))
    assert D(projected["cash"]) == D(status["cash"])
    # And the state after legs is exactly what a rebuild from the store gives.
    assert "identical to the live projection: yes" in await run_replay(system)


async def test_alert_prices_win_and_an_exit_cancels_both_legs(system: System, bus: Bus,
                                                             tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts", attach_sl_tp=True,
                        sl_pct="2", tp_pct="5", use_avg_fill_for_sl_tp=False)
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, url, {
            "alertId": "legs-1", "action": "buy", "symbol": "ACME", "price": "100",
            "quantity": "4", "stopLoss": "90"})
        signal_id = entry["signal_id"]
        legs = await tap.wait_for(lambda _: (found := legs_placed(tap, signal_id))
                                  and len(found) == 2 and found)
        assert legs["sl"].order.stop_price == D("90")  # the alert's own stop
        assert legs["tp"].order.limit_price == D("105.00")  # 5% over the alert price
        _, exit_ = await post_json(http, url, {"alertId": "legs-2", "action": "close",
                                               "symbol": "ACME", "price": "101"})
        await tap.wait_terminal(exit_["signal_id"])
        canceled = await tap.wait_for(lambda _: len(of(tap, LegCanceled, signal_id)) == 2
                                      and of(tap, LegCanceled, signal_id))
    assert {e.leg for e in canceled} == {"sl", "tp"}  # type: ignore[union-attr]
    assert not of(tap, LegFilled, signal_id)
    coid = legs["sl"].order.client_order_id.removesuffix("-sl")
    exit_coid = tap.of_type("order.requested", exit_["signal_id"])[0].order.client_order_id  # type: ignore[union-attr]
    assert book_of(await paper_orders(bus, t.account.id)) == {
        coid: ("buy", "4", "filled"), f"{coid}-sl": ("sell", "4", "canceled"),
        f"{coid}-tp": ("sell", "4", "canceled"), exit_coid: ("sell", "4", "filled")}
    status = await account_status(system, t.account.id)
    assert (status["positions"], status["open_orders"]) == ({}, [])
    # Bought 4 at 100.05, sold 4 at 100.9495 (5 bps slippage each way).
    assert D(status["cash"]) == D(100_000) - D("400.2") + D("403.798")
    projected = await account_projection(system, t.account.id, fills=2)
    assert (projected["positions"], D(projected["cash"])) == ([], D(status["cash"]))


async def test_a_short_s_trailing_stop_follows_the_market_down_and_cancels_the_take_profit(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="10",
                        attach_sl_tp=True, sl_pct="5", tp_pct="20", trailing_stop_pct="5")
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, url, tv_alert(symbol="SHRT", order_id="sell",
                                                       action="sell", price="100"))
    signal_id = entry["signal_id"]
    legs = await tap.wait_for(lambda _: (found := legs_placed(tap, signal_id))
                              and len(found) == 2 and found)
    coid = legs["sl"].order.client_order_id.removesuffix("-sl")
    # Sold 10 at 99.95: a buy stop 5 % above (trailing), a buy limit 20 % below.
    assert (legs["sl"].order.side, legs["sl"].order.stop_price) == ("buy", D("104.95"))
    assert (legs["tp"].order.side, legs["tp"].order.limit_price) == ("buy", D("79.96"))

    await tick(system, bus, "SHRT", "90", "92")  # the stop trails down to 94.5, stays
    (trailed,) = [o for o in (await account_status(system, t.account.id))["open_orders"]
                  if o["client_order_id"] == f"{coid}-sl"]
    assert D(trailed["stop_price"]) == D("94.5")
    await tick(system, bus, "SHRT", "95")  # through the trailed stop
    filled = await tap.wait_for(lambda _: of(tap, LegFilled, signal_id))
    assert filled[0].leg == "sl"  # type: ignore[union-attr]
    await tick(system, bus, "SHRT", "79")  # through the old take-profit: nothing left

    assert book_of(await paper_orders(bus, t.account.id)) == {
        coid: ("sell", "10", "filled"), f"{coid}-sl": ("buy", "10", "filled"),
        f"{coid}-tp": ("buy", "10", "canceled")}
    status = await account_status(system, t.account.id)
    assert (status["positions"], status["open_orders"]) == ({}, [])
    # Sold at 99.95, bought back at 95.0475 (the stop fills at market plus 5 bps).
    projected = await account_projection(system, t.account.id, fills=2)
    assert (projected["positions"], D(projected["realised_pnl"])) == ([], D("49.025"))
    assert D(projected["cash"]) == D(status["cash"]) == D(100_000) + D("49.025")
