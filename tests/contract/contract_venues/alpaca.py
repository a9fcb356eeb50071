"""Alpaca as a contract venue: the adapter (alpaca-py over real HTTP) against the
fake Alpaca REST server (``tests/fakes/alpaca_server.py``) and its fault injection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from factories import ManualClock, make_account
from fakes.alpaca_server import FakeAlpaca

from contracts.orders import OrderRequest
from libs.brokers.alpaca import AlpacaBroker
from libs.registry.models import Account, AlpacaConfig

NAME = "alpaca"
KEY_ID = "PKCONTRACTKEY01"
SECRET = "contract-suite-alpaca-secret"
_KINDS = {"lost_answer": "accept_then_drop", "timeout": "timeout",
          "429": "429", "500": "500", "503": "503"}


@dataclass
class AlpacaVenue:
    fake: FakeAlpaca
    broker: AlpacaBroker
    fresh: AlpacaBroker
    account: Account
    symbol: str = "AAPL"
    price: Decimal = Decimal(100)
    quantity: Decimal = Decimal(10)
    faults: frozenset[str] = field(default_factory=lambda: frozenset(_KINDS))
    partial_fills: bool = True

    async def set_price(self, price: Decimal) -> None:
        self.fake.set_price(self.symbol, price)

    def fail_next_submit(self, kind: str) -> None:
        self.fake.fail_next("POST /v2/orders", _KINDS[kind])

    def refusing(self, order: OrderRequest) -> tuple[OrderRequest, str]:
        reason = "account is not allowed to trade this asset (contract suite)"
        self.fake.fail_next("POST /v2/orders", "reject422", message=reason)
        return order, reason

    def placement_requests(self, client_order_id: str) -> int:
        return sum(1 for body in self.fake.order_requests
                   if body.get("client_order_id") == client_order_id)

    async def fill_partially(self, client_order_id: str, quantity: Decimal) -> None:
        self.fake.fill_partially(client_order_id, quantity)


@asynccontextmanager
async def open_venue() -> AsyncIterator[AlpacaVenue]:
    fake = FakeAlpaca(key_id=KEY_ID, secret_key=SECRET, hang_seconds=0.5)
    await fake.start()
    try:
        account = make_account(broker="alpaca", alpaca=AlpacaConfig(
            key_id=KEY_ID, secret_key=SECRET, url_override=fake.url))
        broker, fresh = (AlpacaBroker(ManualClock(), timeout=0.2, attempts=3, base_wait=0.01,
                                      max_wait=0.02) for _ in range(2))
        venue = AlpacaVenue(fake, broker, fresh, account)
        await venue.set_price(venue.price)
        yield venue
    finally:
        await fake.stop()
