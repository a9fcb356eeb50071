"""SIGTERM to any service loses nothing: each one is stopped mid-burst and restarted.

Every 202'd signal still ends in exactly one terminal event, the broker holds
each order once, the store holds each event once, and every stopped process
exits 0 within the bound.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import aiohttp
import pytest
from e2e.helpers import tv_alert
from harness import (
    EventTap,
    System,
    paper_orders,
    paper_positions,
    provision,
    stored_event_ids,
    wait_until,
)

from contracts.events import LegCanceled, LegFilled, OrderPlaced, event_type
from libs.runtime.bus import Bus

pytestmark = pytest.mark.e2e

PIPELINE = ("validator", "risk", "executor", "auditor", "sl-tp-monitor")
IN_FLIGHT = 12  # signals the sender keeps between acceptance and their terminal event
STOP_BOUND_S = 20.0  # a service must exit within this after SIGTERM


def starts(system: System, service: str) -> int:
    """How many times ``service`` has logged that it is running."""
    log = system.data_dir / f"{service}.log"
    return log.read_bytes().count(f"{service} running".encode()) if log.exists() else 0


def legs_of(tap: EventTap, signal_id: str) -> list[str]:
    """The legs of an entry the executor reported: placed, or (when a newer entry's
    legs already protected the position) filled or cancelled as they were placed."""
    return sorted({e.order.leg for e in tap.events if e.signal_id == signal_id
                   and isinstance(e, OrderPlaced | LegCanceled | LegFilled) and e.order.leg})


class Sender:
    """Posts alerts one after another, keeping at most IN_FLIGHT signals unfinished:
    before each post it awaits the terminal event of the signal IN_FLIGHT back."""

    def __init__(self, url: str, tap: EventTap) -> None:
        self.url = url
        self.tap = tap
        self.accepted: list[str] = []
        self.refused: list[int] = []
        self.done = asyncio.Event()

    async def run(self, http: aiohttp.ClientSession) -> None:
        while not self.done.is_set():
            if len(self.accepted) >= IN_FLIGHT:
                await self.tap.wait_terminal(self.accepted[-IN_FLIGHT], timeout=40)
            # A distinct price per alert: identical bodies would be de-duplicated.
            price = f"{100 + len(self.accepted) / 100:.2f}"
            async with http.post(self.url, json=tv_alert(price=price)) as resp:
                body = await resp.json()
                if resp.status == 202:
                    self.accepted.append(body["signal_id"])
                else:
                    self.refused.append(resp.status)


async def test_sigterm_to_each_pipeline_service_mid_burst_loses_nothing(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="1",
                        attach_sl_tp=True, sl_pct="2", tp_pct="5")
    sender = Sender(system.webhook_url(t.strategy),
                    tap)
    stop_times: dict[str, float] = {}
    async with aiohttp.ClientSession() as http:
        sending = asyncio.create_task(sender.run(http))
        for service in PIPELINE:
            # Stop it while signals are moving through the pipeline.
            mark = len(sender.accepted) + IN_FLIGHT // 2
            await wait_until(lambda m=mark: len(sender.accepted) >= m or sending.done(),
                             timeout=40, message=f"signals in flight before stopping {service}")
            assert not sending.done(), sending.exception()
            began = time.monotonic()
            code = await asyncio.to_thread(system.terminate, service)
            stop_times[service] = time.monotonic() - began
            assert code == 0, f"{service} exited {code}"
            before = starts(system, service)
            system.start(service)
            await wait_until(lambda s=service, b=before: starts(system, s) > b, timeout=30,
                             message=f"{service} to run again")
        sender.done.set()
        await asyncio.wait_for(sending, timeout=60)

    accepted = sender.accepted
    assert sender.refused == []
    assert len(accepted) >= len(PIPELINE) * IN_FLIGHT // 2
    assert all(elapsed < STOP_BOUND_S for elapsed in stop_times.values()), stop_times
    for signal_id in accepted:
        await tap.wait_terminal(signal_id, timeout=40)
    # Each signal ended once, and in a trade: a restart is no reason to fail it.
    outcomes = {sid: [event_type(e) for e in tap.terminal(sid)] for sid in accepted}
    assert {sid: o for sid, o in outcomes.items() if o != ["webhook.trade_executed"]} == {}
    # The sl-tp-monitor lost no fill: both legs of every entry were dealt with.
    await tap.wait_for(lambda _: all(legs_of(tap, sid) == ["sl", "tp"] for sid in accepted),
                       timeout=40)

    # The broker filled each entry exactly once: no order was placed twice...
    orders = await paper_orders(bus, t.account.id)
    entries = [o for o in orders.values() if not o.leg]
    assert (len(entries), {o.status for o in entries}) == (len(accepted), {"filled"})
    held = Decimal(len(accepted))
    assert await paper_positions(bus, t.account.id) == {"AAPL": held}
    # ...and the position ends protected exactly once: one entry's stop and
    # take-profit rest, each the whole position (older entries' legs were replaced).
    resting = [o for o in orders.values() if o.leg and o.status == "open"]
    assert sorted((o.leg, o.side, o.quantity) for o in resting) == [
        ("sl", "sell", held), ("tp", "sell", held)]
    assert len({o.oco_group for o in resting}) == 1

    # The auditor, stopped mid-stream too, stored every event exactly once.
    # Every published event stored exactly once (compared until both settle: leg
    # events may still be coming).
    def stored_all() -> bool:
        return sorted(stored_event_ids(system)) == sorted(e.event_id for e in tap.events)

    await wait_until(stored_all, timeout=30,
                     message="the store to hold every published event exactly once")


async def test_sigterm_to_ingress_finishes_requests_in_flight_and_accepts_no_more(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="fixed_quantity", fixed_quantity="1")
    url = system.webhook_url(t.strategy)
    accepted: list[str] = []
    refused: list[str] = []
    other: list[int] = []
    some_answered = asyncio.Event()

    async def post(n: int, http: aiohttp.ClientSession) -> None:
        try:
            async with http.post(url, json=tv_alert(price=f"{100 + n / 100:.2f}")) as resp:
                status, body = resp.status, await resp.json()
        except aiohttp.ClientError as exc:  # connection refused or closed unanswered
            refused.append(type(exc).__name__)
            return
        if status == 202:
            accepted.append(body["signal_id"])
            if len(accepted) >= 5:
                some_answered.set()
        elif status == 503:
            assert resp.headers.get("Retry-After")
        else:
            other.append(status)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as http:
        posts = [asyncio.create_task(post(n, http)) for n in range(80)]
        await asyncio.wait_for(some_answered.wait(), timeout=20)
        code = await asyncio.to_thread(system.terminate, "ingress")
        await asyncio.wait_for(asyncio.gather(*posts), timeout=30)
    assert code == 0
    assert other == []
    assert refused, "every request was answered before the stop; nothing was tested"
    for signal_id in accepted:
        await tap.wait_terminal(signal_id)
    # Each request was either answered 202 after its durable publish, or not taken:
    # nothing reached the stream without its 202.
    received = {e.signal_id for e in tap.of_type("webhook.received")
                if getattr(e, "strategy_id", None) == t.strategy.id}
    assert received == set(accepted)
