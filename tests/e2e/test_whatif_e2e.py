"""What-if against a store the real pipeline wrote, on SQLite and PostgreSQL.

The recording has everything the replay must decide again: protective legs (a
trailing stop moved by a tick the store does not hold, then filled; a take-profit
filled), a second strategy's position liquidated by the portfolio breaker, a signal
refused while the account was paused, an operator's resume. With nothing changed the
replay gives back every recorded fill, leg and trip; with the trailing stop or the
breaker switched off the outcome changes where it must.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from e2e.helpers import post_json, post_prices, tv_alert
from harness import (
    BACKENDS,
    ROOT,
    EventTap,
    System,
    add_strategy,
    provision,
    stored_event_ids,
    wait_until,
)

from cli.main import main
from contracts.events import BreakerTripped, LegFilled, OrderPlaced, TradeExecuted, WebhookFailed
from libs.registry.models import BreakerConfig
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("store_url", BACKENDS, indirect=True)]
D = Decimal


def what_if(capsys: pytest.CaptureFixture[str], account: str, *changes: str) -> dict[str, Any]:
    capsys.readouterr()
    argv = ["what-if", account, "--json", "--breaker-interval", "0.2"]
    for change in changes:
        argv += ["--set", change]
    assert main(argv) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


async def test_what_if_replays_legs_trailing_stops_and_the_breaker(
        system: System, bus: Bus, tap: EventTap, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    breaker = BreakerConfig(base_equity=D(100_000), global_sl_pct=D(95))
    legs = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="100",
                           max_order_notional=None, attach_sl_tp=True, sl_pct="5",
                           tp_pct="10", trailing_stop_pct="3",
                           account_fields={"breaker": breaker})
    bare = await add_strategy(bus, legs, sizing_mode="fixed_quantity", fixed_quantity="100",
                              max_order_notional=None)
    account = legs.account.id

    def legs_placed(signal_id: str) -> Any:
        return lambda evs: len([e for e in evs if isinstance(e, OrderPlaced)
                                and e.signal_id == signal_id and e.order.leg]) == 2

    async with aiohttp.ClientSession() as http:
        async def alert(strategy: Any, price: str) -> str:
            _, accepted = await post_json(http, system.webhook_url(strategy),
                                          tv_alert(symbol="ACME", price=price))
            await tap.wait_terminal(accepted["signal_id"])
            return str(accepted["signal_id"])

        async def tick(price: str) -> None:
            assert await post_prices(http, system.operator_url,
                                     {"symbol": "ACME", "price": price},
                                     system.admin_key) == 202

        def leg_fills() -> list[LegFilled]:
            return [e for e in tap.events if isinstance(e, LegFilled) and e.account_id == account]

        # A: in at 100.05; a tick at 108 trails the stop up to 104.76; 104 fills it.
        first = await alert(legs.strategy, "100")
        await tap.wait_for(legs_placed(first))
        await tick("108")
        await tick("104")
        (stop,) = await tap.wait_for(lambda _: leg_fills())
        assert (stop.leg, stop.fill.average_price) == ("sl", D("103.948"))
        # B: in at 104.052; 115 takes the profit at its limit (114.46) or better.
        second = await alert(legs.strategy, "104")
        await tap.wait_for(legs_placed(second))
        await tick("115")
        await tap.wait_for(lambda _: len(leg_fills()) == 2)
        # C (no legs) in at 115.0575; a crash to 50 takes equity under 95 % of 100,000:
        # the breaker liquidates C and pauses the account.
        await alert(bare.strategy, "115")
        await tick("50")
        await tap.wait_for(lambda evs: [e for e in evs if isinstance(e, BreakerTripped)])
        await tap.wait_for(lambda evs: [e for e in evs if isinstance(e, TradeExecuted)
                                        and e.signal_id.startswith("breaker:")])
        refused = await tap.wait_terminal(await alert(legs.strategy, "50"))
        assert isinstance(refused, WebhookFailed) and refused.code == "paused"
        result = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "cli.main", "resume", account],
            env=system.env(), cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        await tap.wait_for(lambda evs: tap.of_type("account.resumed"))
        last = await alert(legs.strategy, "52")
        await tap.wait_for(legs_placed(last))

    newest = tap.events[-1].event_id
    await wait_until(lambda: newest in stored_event_ids(system), 30,
                     message="the auditor to store the recording")
    monkeypatch.setenv("TRADEHOOKS_DATABASE_URL", system.store_url)

    same = what_if(capsys, account)
    assert same["changed"] == []
    assert same["replayed"] == same["recorded"]
    recorded = same["recorded"]
    assert (same["signals"], recorded["orders"], recorded["legs_placed"],
            recorded["legs_filled"], recorded["breaker_trips"], recorded["refused_by"],
            recorded["resting"]) == (5, 4, 6, 2, 1, {"paused": 1}, 2)
    assert recorded["trips"][0]["equity"] == "94978.85"
    assert same["prices"]["implied"] >= 3  # the stop, the take-profit, the liquidation
    assert what_if(capsys, account) == same  # deterministic

    # Without the trailing stop, A's stop stays at 95.05: 104 does not reach it, and
    # A is still held when B adds to it.
    fixed = what_if(capsys, account, "trailing_stop_pct=null")
    assert (fixed["recorded"]["legs_filled"], fixed["replayed"]["legs_filled"]) == (2, 1)
    changed = {c["signal_id"]: c for c in fixed["changed"]}
    assert [f["price"] for f in changed[first]["recorded"]] == ["100.05", "103.948"]
    assert [f["price"] for f in changed[first]["replayed"]] == ["100.05"]

    # Without the breaker nothing is liquidated or paused: the alert at 50 buys.
    off = what_if(capsys, account, "breaker.active=false")
    assert (off["replayed"]["breaker_trips"], off["replayed"]["refused_by"]) == (0, {})
    assert off["replayed"]["orders"] == 5

    # The operator API answers the same report (the console's What-if page asks it).
    url = f"{system.operator_url}/api/v1/accounts/{account}/what-if"
    async with aiohttp.ClientSession(headers=system.admin_headers) as http:
        async with http.post(url, json={"changes": {"trailing_stop_pct": None},
                                        "breaker_interval_s": 0.2}) as resp:
            assert resp.status == 200, await resp.text()
            assert await resp.json() == {"account_id": account, **fixed}
        async with http.post(url, json={"changes": {"fixed_quantiy": 3}}) as resp:
            assert (resp.status, (await resp.json())["field"]) == (422, "changes")
        async with http.post(url, json={"changes": {"sl_pct": -1}}) as resp:
            assert (resp.status, (await resp.json())["field"]) == (422, "changes.sl_pct")
        async with http.post(url.replace(account, "acct-nobody"), json={}) as resp:
            assert resp.status == 404
