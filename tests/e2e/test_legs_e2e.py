"""Protective SL/TP legs on the running system (paper broker)."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import EventTap, System, account_projection, provision, run_replay

from contracts.events import AnyEvent, LegCanceled, LegFilled, OrderPlaced
from services.runtime.bus import Bus

pytestmark = pytest.mark.e2e


def legs_placed(tap: EventTap, signal_id: str) -> dict[str, OrderPlaced]:
    return {e.order.leg: e for e in tap.of_type("order.placed", signal_id)
            if isinstance(e, OrderPlaced) and e.order.leg}


def of(tap: EventTap, cls: type[AnyEvent], signal_id: str) -> list[AnyEvent]:
    return [e for e in tap.events if isinstance(e, cls) and e.signal_id == signal_id]


async def test_take_profit_fills_and_cancels_the_stop(system: System, bus: Bus,
                                                      tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="10",
                        attach_sl_tp=True, sl_pct="2", tp_pct="5")
    url = f"{system.api_url}/webhook/{t.strategy.slug}?token={t.strategy.secret}"
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, url, tv_alert(symbol="ACME", price="100"))
        signal_id = entry["signal_id"]
        legs = await tap.wait_for(lambda _: (found := legs_placed(tap, signal_id))
                                  and len(found) == 2 and found)
        coid = tap.of_type("order.requested", signal_id)[0].order.client_order_id  # type: ignore[union-attr]
        # Priced off the average fill 100.05: stop 2% below, take-profit 5% above.
        assert (legs["sl"].order.client_order_id, legs["sl"].order.stop_price) == (
            f"{coid}-sl", Decimal("98.05"))
        assert (legs["tp"].order.client_order_id, legs["tp"].order.limit_price) == (
            f"{coid}-tp", Decimal("105.05"))
        assert legs["sl"].order.quantity == legs["tp"].order.quantity == Decimal(10)

        await post_json(http, f"{system.api_url}/api/v1/prices",
                        {"symbol": "ACME", "price": "106"}, headers=system.admin_headers)
        filled = await tap.wait_for(lambda _: of(tap, LegFilled, signal_id))
        canceled = await tap.wait_for(lambda _: of(tap, LegCanceled, signal_id))
    assert filled[0].leg == "tp"  # type: ignore[union-attr]
    assert filled[0].fill.average_price == Decimal("106")  # type: ignore[union-attr]
    assert filled[0].fill.position_quantity == 0  # type: ignore[union-attr]
    assert canceled[0].leg == "sl"  # type: ignore[union-attr]
    assert "OCO" in canceled[0].reason  # type: ignore[union-attr]

    # The leg's fill reaches the account projection like any other fill.
    projected = await account_projection(system, t.account.id, fills=2)
    assert projected["positions"] == []
    # And the state after legs is exactly what a rebuild from the store gives.
    assert "identical to the live projection: yes" in await run_replay(system)


async def test_alert_prices_win_and_an_exit_cancels_both_legs(system: System, bus: Bus,
                                                             tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts", attach_sl_tp=True,
                        sl_pct="2", tp_pct="5", use_avg_fill_for_sl_tp=False)
    url = f"{system.api_url}/webhook/{t.strategy.slug}?token={t.strategy.secret}"
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, url, {
            "alertId": "legs-1", "action": "buy", "symbol": "ACME", "price": "100",
            "quantity": "4", "stopLoss": "90"})
        signal_id = entry["signal_id"]
        legs = await tap.wait_for(lambda _: (found := legs_placed(tap, signal_id))
                                  and len(found) == 2 and found)
        assert legs["sl"].order.stop_price == Decimal("90")  # the alert's own stop
        assert legs["tp"].order.limit_price == Decimal("105.00")  # 5% over the alert price
        _, exit_ = await post_json(http, url, {"alertId": "legs-2", "action": "close",
                                               "symbol": "ACME", "price": "101"})
        await tap.wait_terminal(exit_["signal_id"])
        canceled = await tap.wait_for(lambda _: len(of(tap, LegCanceled, signal_id)) == 2
                                      and of(tap, LegCanceled, signal_id))
    assert {e.leg for e in canceled} == {"sl", "tp"}  # type: ignore[union-attr]
    assert not of(tap, LegFilled, signal_id)
