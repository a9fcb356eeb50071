"""The Orderly Network as a contract venue: the ccxt adapter (``woofipro``, ed25519
request signing) over real HTTP against the fake Orderly
(``tests/fakes/orderly_server.py``), which checks every signature."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from factories import ManualClock, make_account
from fakes.orderly_server import ACCOUNT_ID, FakeOrderly

from contracts.orders import OrderRequest
from libs.brokers.ccxt_broker import CcxtBroker
from libs.brokers.ccxt_symbols import venue_client_id
from libs.brokers.ccxt_venues import VENUES
from libs.registry.models import Account, ExchangeConfig

NAME = "orderly"
_KINDS = {"lost_answer": "accept_then_drop", "timeout": "timeout",
          "429": "429", "500": "500", "503": "503"}
_PLACE = "POST /v1/order"


@dataclass
class OrderlyVenue:
    fake: FakeOrderly
    broker: CcxtBroker
    fresh: CcxtBroker
    account: Account
    symbol: str = "BTC-PERP"
    price: Decimal = Decimal(60000)
    quantity: Decimal = Decimal(2)
    faults: frozenset[str] = field(default_factory=lambda: frozenset(_KINDS))
    partial_fills: bool = True

    async def set_price(self, price: Decimal) -> None:
        self.fake.set_price("PERP_BTC_USDC", price)

    def fail_next_submit(self, kind: str) -> None:
        self.fake.faults.fail_next(_PLACE, _KINDS[kind])

    def refusing(self, order: OrderRequest) -> tuple[OrderRequest, str]:
        reason = "The risk exposure for client is too high (contract suite)"
        self.fake.faults.fail_next(_PLACE, "reject", message=reason)
        return order, reason

    def placement_requests(self, client_order_id: str) -> int:
        return self.fake.placements(_sent_as(client_order_id))

    async def fill_partially(self, client_order_id: str, quantity: Decimal) -> None:
        self.fake.fill_partially(_sent_as(client_order_id), quantity)


def _sent_as(client_order_id: str) -> str:
    """Our id as Orderly gets it (a digest when longer than 36 characters)."""
    return venue_client_id(client_order_id, VENUES["orderly"].client_ids)


@asynccontextmanager
async def open_venue() -> AsyncIterator[OrderlyVenue]:
    fake = FakeOrderly(hang_seconds=0.6)
    fake.holding = Decimal(1_000_000)
    await fake.start()
    broker, fresh = (CcxtBroker("orderly", ManualClock(), timeout=0.3, attempts=3,
                                base_wait=0.01, max_wait=0.02, rate_limit=False)
                     for _ in range(2))
    try:
        account = make_account(broker="orderly", exchange=ExchangeConfig(
            api_key=fake.key, secret=fake.secret, account_id=ACCOUNT_ID, market="perp",
            leverage=10, url_override=fake.url))
        venue = OrderlyVenue(fake, broker, fresh, account)
        await venue.set_price(venue.price)
        yield venue
    finally:
        await broker.close()
        await fresh.close()
        await fake.stop()
