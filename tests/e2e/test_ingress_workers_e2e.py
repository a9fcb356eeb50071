"""Several ingress processes share one port (TRADEHOOKS_HTTP_WORKERS): losing one
does not stop the webhook URL from answering."""

from __future__ import annotations

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import EventTap, System, provision

from contracts.events import TradeExecuted
from libs.runtime.bus import Bus

pytestmark = pytest.mark.e2e


async def test_two_ingress_processes_share_the_port(system: System, bus: Bus,
                                                    tap: EventTap) -> None:
    workers = {"TRADEHOOKS_HTTP_WORKERS": "2"}
    system.terminate("ingress")
    system.start("ingress", **workers)
    system.start("ingress", "ingress-2", **workers)
    await system.wait_ready()
    t = await provision(bus)
    url = system.webhook_url(t.strategy)

    system.kill("ingress")  # the first one dies; the second holds the port alone
    signal_ids = []
    for n in range(10):
        # A new connection per alert, as TradingView opens them.
        async with aiohttp.ClientSession() as http:
            status, body = await post_json(http, url, tv_alert(price=f"{100 + n}"))
        assert status == 202, body
        signal_ids.append(body["signal_id"])
    for signal_id in signal_ids:
        assert isinstance(await tap.wait_terminal(signal_id), TradeExecuted)
