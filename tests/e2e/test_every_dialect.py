"""Each of the four dialects, from HTTP to a fill on the paper broker and at Alpaca."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from e2e.helpers import post_json, post_raw, tv_alert
from fakes.alpaca_server import FakeAlpaca
from harness import EventTap, System, Tenancy, provision

from contracts.events import TradeExecuted
from libs.registry.models import AlpacaConfig
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]

Alert = Callable[[Tenancy], dict[str, Any]]
DIALECTS: dict[str, Alert] = {
    "tradingview": lambda t: tv_alert(symbol="NASDAQ:AAPL", contracts="2", price="190"),
    "exchange": lambda t: {"alertId": f"ex-{t.strategy.id}", "action": "buy",
                           "symbol": "AAPL", "price": "190", "quantity": "2",
                           "note": "my own field"},
    "propfirm": lambda t: {"tenantId": t.tenant.id, "accountId": t.account.id,
                           "symbol": "AAPL", "action": "buy", "quantity": "2",
                           "price": "190", "botId": "bot-7", "signalId": f"pf-{t.strategy.id}"},
    "routed": lambda t: {"strategy": t.strategy.name, "signal": "BUY", "confidence": 0.82,
                         "quantity": "2", "price": "190"},
}


@pytest.fixture
async def alpaca() -> AsyncIterator[FakeAlpaca]:
    """The fake Alpaca of one test (asked for before ``system``: it outlives the
    test's turn on the shared system)."""
    server = FakeAlpaca(key_id="PKDIALECT", secret_key="dialect-secret")
    await server.start()
    server.set_price("AAPL", "190")
    yield server
    await server.stop()


@pytest.mark.parametrize("broker", ["paper", "alpaca"])
async def test_every_dialect_fills(alpaca: FakeAlpaca, system: System, bus: Bus,
                                   tap: EventTap, broker: str) -> None:
    account_fields: dict[str, Any] = {}
    if broker == "alpaca":
        account_fields = {"broker": "alpaca", "alpaca": AlpacaConfig(
            key_id="PKDIALECT", secret_key="dialect-secret", url_override=alpaca.url)}
    async with aiohttp.ClientSession() as http:
        for dialect, alert in DIALECTS.items():
            t = await provision(bus, sizing_mode="alert_contracts", symbol="AAPL",
                                account_fields=account_fields)
            # The universal endpoint with the token in the body, as TradingView posts it.
            status, body = await post_json(http, f"{system.api_url}/webhook",
                                           {**alert(t), "token": t.strategy.secret})
            assert status == 202, (dialect, body)
            done = await tap.wait_terminal(body["signal_id"])
            assert isinstance(done, TradeExecuted), (dialect, done)
            assert (done.broker, done.fill.symbol, done.fill.quantity) == (
                broker, "AAPL", Decimal(2)), dialect
            validated = tap.of_type("webhook.validated", body["signal_id"])[0]
            assert validated.signal.dialect == dialect  # type: ignore[union-attr]
    if broker == "alpaca":
        assert len(alpaca.submitted_client_order_ids) == len(DIALECTS)


async def test_tradingview_plain_text_message(system: System, bus: Bus,
                                              tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts")
    text = (f"token={t.strategy.secret}\nsymbol=AAPL\nstrategy_order_id=long\n"
            "strategy_order_action=buy\nstrategy_order_contracts=1\nstrategy_order_price=190")
    async with aiohttp.ClientSession() as http:
        status, body = await post_raw(http, f"{system.api_url}/webhook", text.encode(),
                                      "text/plain")
    assert status == 202, body
    done = await tap.wait_terminal(body["signal_id"])
    assert isinstance(done, TradeExecuted)
    received = tap.of_type("webhook.received", body["signal_id"])[0]
    assert "token" not in received.payload  # type: ignore[union-attr]
