"""The auditor's routes on the running system: ``GET /api/v1/accounts/{id}?as_of=``
(the account before and after its fills, from the event store, beside the live
answer) and ``GET /api/v1/export`` (its fills as CSV, up to a named chain head)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import EventTap, System, account_projection, provision, wait_until

from cli.main import main
from contracts.events import TradeExecuted
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]


async def as_of(http: aiohttp.ClientSession, system: System, account: str,
                moment: str) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{system.operator_url}/api/v1/accounts/{account}",
                        params={"as_of": moment}, headers=system.admin_headers) as resp:
        return resp.status, await resp.json()


async def test_an_account_before_and_after_its_fills(
        system: System, bus: Bus, tap: EventTap, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="3")
    fills: list[TradeExecuted] = []
    async with aiohttp.ClientSession() as http:
        for price in ("100.00", "110.00"):
            _, accepted = await post_json(http, system.webhook_url(t.strategy),
                                          tv_alert(symbol="HIST", price=price))
            executed = await tap.wait_terminal(accepted["signal_id"])
            assert isinstance(executed, TradeExecuted)
            fills.append(executed)
        live = await account_projection(system, t.account.id, fills=2)

        status, first = await as_of(http, system, t.account.id,
                                    fills[0].occurred_at.isoformat())
        assert status == 200, first
        assert first["fills"] == 1
        assert [(p["symbol"], Decimal(p["quantity"])) for p in first["positions"]] == \
            [("HIST", Decimal(3))]
        assert Decimal(first["cash"]) == Decimal(100_000) - 3 * fills[0].fill.average_price \
            - fills[0].fill.fee  # type: ignore[union-attr]

        status, now = await as_of(http, system, t.account.id, "2999-01-01T00:00:00Z")
        assert status == 200, now
        assert (now["fills"], now["cash"], now["positions"][0]["quantity"]) == \
            (live["fills"], live["cash"], live["positions"][0]["quantity"])
        assert now["open_orders"] == []

        status, body = await as_of(http, system, t.account.id, "2000-01-01T00:00:00Z")
        assert (status, body["error"]) == (404, "not_found")
        status, body = await as_of(http, system, t.account.id, "yesterday")
        assert (status, body["error"], body["field"]) == (422, "invalid_field", "as_of")

        async with http.get(f"{system.operator_url}/api/v1/export",
                            params={"kind": "fills", "format": "csv",
                                    "account": t.account.id},
                            headers=system.admin_headers) as resp:
            assert resp.status == 200, await resp.text()
            assert resp.headers["Content-Type"].startswith("text/csv")
            assert int(resp.headers["X-Chain-Position"]) > 0
            assert len(resp.headers["X-Chain-Hash"]) == 64
            rows = list(csv.DictReader(io.StringIO(await resp.text())))
        assert [(r["signal_id"], r["symbol"], Decimal(r["quantity"])) for r in rows] == \
            [(f.signal_id, "HIST", Decimal(3)) for f in fills]
        async with http.get(f"{system.operator_url}/api/v1/export",
                            params={"kind": "nope"}, headers=system.admin_headers) as resp:
            assert (resp.status, (await resp.json())["field"]) == (422, "kind")

    # What-if with nothing changed gives back what the real pipeline filled; a
    # changed size changes both orders.
    monkeypatch.setenv("TRADEHOOKS_DATABASE_URL", system.store_url)
    capsys.readouterr()
    assert main(["what-if", t.account.id, "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert (same["signals"], same["changed"]) == (2, [])
    assert same["replayed"] == same["recorded"]
    assert main(["what-if", t.account.id, "--json", "--set", "fixed_quantity=7"]) == 0
    bigger = json.loads(capsys.readouterr().out)
    assert [c["replayed"][0]["quantity"] for c in bigger["changed"]] == ["7", "7"]


async def test_the_log_files_tell_a_signal_s_story(
        system: System, bus: Bus, tap: EventTap, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="2")
    async with aiohttp.ClientSession() as http:
        _, accepted = await post_json(http, system.webhook_url(t.strategy),
                                      tv_alert(symbol="LOGS", price="50.00"))
    signal_id = accepted["signal_id"]
    executed = await tap.wait_terminal(signal_id)
    assert isinstance(executed, TradeExecuted)
    folder = system.data_dir / "logs"

    def lines_of_the_signal() -> list[dict[str, Any]]:
        path = folder / "logs.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()] \
            if path.exists() else []
        return [row for row in rows if row["event"]["signal_id"] == signal_id]

    # The auditor writes the files after storing: wait for the terminal event's line.
    await wait_until(lambda: any(r["type"] == "webhook.trade_executed"
                                 for r in lines_of_the_signal()), 15,
                     message="the signal's trade in logs.jsonl")
    rows = lines_of_the_signal()
    assert rows[0]["type"] == "webhook.received"
    assert [r["position"] for r in rows] == sorted(r["position"] for r in rows)
    assert rows[0]["subject"].startswith(f"webhook.received.{t.tenant.id}.")
    assert "token" not in rows[0]["event"]["payload"]  # credentials never reach a file
    activity = (folder / "activity.log").read_text()
    assert f"{t.tenant.id}/{t.account.id} strategy {t.strategy.id}: LOGS buy 2 @" in activity
    # The CLI shows the same last lines.
    monkeypatch.setenv("TRADEHOOKS_DATA_DIR", str(system.data_dir))
    assert main(["logs", "--activity", "-n", "50"]) == 0
    assert "LOGS buy 2 @" in capsys.readouterr().out


async def test_a_strategy_as_it_was_before_a_change(system: System, bus: Bus) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="3")
    url = f"{system.operator_url}/api/v1/strategies/{t.strategy.id}"
    async with aiohttp.ClientSession(headers=system.admin_headers) as http:
        async def at(moment: str) -> tuple[int, dict[str, Any]]:
            async with http.get(url, params={"as_of": moment}) as resp:
                return resp.status, await resp.json()

        async def stored(quantity: str) -> dict[str, Any] | None:
            """The newest settings once the auditor stored them with ``quantity``."""
            status, body = await at("2999-01-01T00:00:00Z")
            return body if status == 200 and \
                body["settings"]["fixed_quantity"] == quantity else None

        async with http.get(url) as resp:
            before = (await resp.json())["fixed_quantity"]
        first = await wait_until(lambda: stored("3"), 20, message="the registration")
        async with http.patch(url, json={"fixed_quantity": 7}) as resp:
            assert resp.status == 200, await resp.text()
        latest = await wait_until(lambda: stored("7"), 20, message="the change")

        status, then = await at(str(first["as_of"]["position"]))
        assert status == 200
        assert then["settings"]["fixed_quantity"] == before == "3"
        assert then["settings"]["secret"] == "********"
        assert latest["as_of"]["event"] == "registry.strategy_updated"
        assert (await at("2000-01-01T00:00:00Z"))[0] == 404
        status, body = await at("last tuesday")
        assert (status, body["field"]) == (422, "as_of")
        async with http.get(url) as resp:  # without as_of: the strategy now
            assert (await resp.json())["fixed_quantity"] == "7"
