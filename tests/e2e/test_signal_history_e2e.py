"""The signal history API, the live stream and dry runs against the eight services."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from e2e.helpers import post_json
from harness import System, paper_orders, provision, run_replay, wait_until

from contracts import streams
from libs.registry.api_keys import ApiKeys
from libs.runtime.bus import Bus

pytestmark = pytest.mark.e2e


class Sse:
    """A live-stream client: reads events until told to stop."""

    def __init__(self, http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> None:
        self.http, self.url, self.headers = http, url, headers
        self.events: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Sse:
        ready = asyncio.Event()

        async def read() -> None:
            async with self.http.get(self.url, headers=self.headers) as resp:
                assert resp.status == 200, await resp.text()
                assert resp.headers["Content-Type"].startswith("text/event-stream")
                frame: dict[str, Any] = {}
                async for raw in resp.content:
                    line = raw.decode().rstrip("\n")
                    if not line:
                        if frame:
                            self.events.append(frame)
                            ready.set()
                        frame = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        frame[name] = json.loads(value) if name == "data" else value

        self.task = asyncio.create_task(read())
        await asyncio.wait_for(ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task

    def signals(self) -> dict[str, str]:
        """signal id → its latest status seen."""
        return {e["data"]["signal_id"]: e["data"]["status"]
                for e in self.events if e["event"] == "signal"}


async def test_history_stream_and_dry_run(system: System, bus: Bus) -> None:
    t = await provision(bus, sizing_mode="auto")
    other = await provision(bus)
    url = system.webhook_url(t.strategy)
    api = f"{system.operator_url}/api/v1"
    keys = ApiKeys(await bus.kv(streams.BUCKET_REGISTRY))
    _, viewer = await keys.create("viewer", t.tenant.id)
    _, outsider = await keys.create("admin", other.tenant.id)
    async with aiohttp.ClientSession() as http:
        stream_url = f"{api}/stream?account_id={t.account.id}"
        async with Sse(http, stream_url, {"X-API-Key": viewer}) as live:
            ready = live.events[0]
            assert ready["event"] == "ready"
            ids = []
            # Two entries and an exit with nothing to close (refused by risk).
            for n, (action, symbol, qty) in enumerate([("buy", "AAPL", "3"),
                                                       ("close", "MSFT", "1"),
                                                       ("buy", "AAPL", "2")]):
                status, body = await post_json(http, url, {
                    "action": action, "symbol": symbol, "quantity": qty, "price": "100",
                    "alertId": f"a-{n}"})
                assert status == 202, body
                ids.append(body["signal_id"])
            # A dry run of the same alert as the first: not a duplicate of it.
            status, body = await post_json(http, url + "&dry_run=1", {
                "action": "buy", "symbol": "AAPL", "quantity": "3", "price": "100",
                "alertId": "a-0"})
            assert status == 202, body
            dry = body["signal_id"]

            def ended() -> bool:
                seen = live.signals()
                accounts = [e["data"] for e in live.events if e["event"] == "account"]
                held = accounts[-1]["state"]["positions"] if accounts else []
                return all(seen.get(i) in ("executed", "failed") for i in [*ids, dry]) \
                    and bool(held) and Decimal(held[0]["quantity"]) == 5

            await wait_until(ended, message="every signal and the account on the stream")
            last_seen = live.events[-1]["id"]

        # The history: newest first, each row as the pipeline left it.
        async with http.get(f"{api}/signals", params={"account_id": t.account.id},
                            headers={"X-API-Key": viewer}) as resp:
            page = await resp.json()
        rows = {r["signal_id"]: r for r in page["signals"]}
        assert [r["signal_id"] for r in page["signals"]] == [dry, *reversed(ids)]
        assert rows[ids[0]]["status"] == "executed"
        assert Decimal(rows[ids[0]]["fill_quantity"]) == 3
        assert rows[ids[0]]["order_id"] and rows[ids[0]]["latency_ms"] > 0
        assert (rows[ids[1]]["status"], rows[ids[1]]["stage"], rows[ids[1]]["code"]) == (
            "failed", "risk", "no_position")
        assert rows[dry]["dry_run"] is True and rows[dry]["fill_quantity"] is None
        assert rows[dry]["status"] == "executed" and Decimal(rows[dry]["quantity"]) == 3
        # Nothing of the dry run reached the broker: 3 + 2 bought, no third order.
        orders = await paper_orders(bus, t.account.id)
        assert sorted(o.quantity for o in orders.values()) == [Decimal(2), Decimal(3)]
        async with http.get(f"{api}/signals/{dry}", headers=system.admin_headers) as resp:
            trail = await resp.json()
        assert [e["type"] for e in trail["events"]] == [
            "webhook.received", "webhook.validated", "webhook.trade_executed"]
        assert all(e["dry_run"] for e in trail["events"])

        # Paging: one row at a time gives the same rows; q finds by order id.
        seen, cursor = [], None
        while True:
            params = {"account_id": t.account.id, "limit": "1",
                      **({"cursor": cursor} if cursor else {})}
            async with http.get(f"{api}/signals", params=params,
                                headers=system.admin_headers) as resp:
                one = await resp.json()
            seen += [r["signal_id"] for r in one["signals"]]
            if not (cursor := one["next_cursor"]):
                break
        assert seen == [dry, *reversed(ids)]
        async with http.get(f"{api}/signals", params={"q": rows[ids[2]]["order_id"]},
                            headers=system.admin_headers) as resp:
            assert [r["signal_id"] for r in (await resp.json())["signals"]] == [ids[2]]
        # Another tenant's key sees none of it; bad parameters are 422s naming them.
        async with http.get(f"{api}/signals", headers={"X-API-Key": outsider}) as resp:
            assert (await resp.json())["signals"] == []
        for params, field in (({"status": "done"}, "status"), ({"limit": "0"}, "limit"),
                              ({"since": "yesterday"}, "since"), ({"cursor": "!!"}, "cursor")):
            async with http.get(f"{api}/signals", params=params,
                                headers=system.admin_headers) as resp:
                assert (resp.status, (await resp.json())["field"]) == (422, field)

        # Missed while away: exactly the rows that changed since the last event seen.
        status, body = await post_json(http, url, {
            "action": "close", "symbol": "AAPL", "alertId": "a-close", "price": "101"})
        assert status == 202, body
        await wait_until(lambda: _ended(http, api, body["signal_id"], system),
                         message="the close in the history")
        async with Sse(http, stream_url, {"X-API-Key": viewer,
                                          "Last-Event-ID": last_seen}) as resumed:
            await wait_until(lambda: any(e["event"] == "account" for e in resumed.events),
                             message="the missed account change")
            missed = [e for e in resumed.events if e["event"] != "ready"]
            assert [e["data"].get("signal_id") for e in missed] == [body["signal_id"], None]
            assert missed[1]["data"]["state"]["positions"] == []
        # From the start, another tenant's key gets its own account's opening only.
        async with Sse(http, f"{api}/stream", {"X-API-Key": outsider,
                                               "Last-Event-ID": "0-a"}) as foreign:
            await wait_until(lambda: len(foreign.events) > 1, message="the backlog")
            assert {e["data"].get("tenant_id") for e in foreign.events[1:]} == {
                other.tenant.id}

    output = await run_replay(system)
    assert "identical to the live history: yes" in output


async def _ended(http: aiohttp.ClientSession, api: str, signal_id: str,
                 system: System) -> bool:
    async with http.get(f"{api}/signals", params={"q": signal_id},
                        headers=system.admin_headers) as resp:
        rows = (await resp.json())["signals"]
    return bool(rows) and rows[0]["status"] != "accepted"
