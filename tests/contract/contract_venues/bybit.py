"""Bybit (USDT linear perpetuals, unified account) as a contract venue: the ccxt
adapter over real HTTP against the fake Bybit (``tests/fakes/bybit_server.py``) and its
faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from factories import ManualClock, make_account
from fakes.bybit_server import FAKE_KEY, FAKE_SECRET, FakeBybit

from contracts.orders import OrderRequest
from libs.brokers.ccxt_broker import CcxtBroker
from libs.brokers.ccxt_symbols import venue_client_id
from libs.brokers.ccxt_venues import VENUES
from libs.registry.models import Account, ExchangeConfig

NAME = "bybit"
_KINDS = {"lost_answer": "accept_then_drop", "timeout": "timeout",
          "429": "429", "500": "500", "503": "503"}
_PLACE = "POST /v5/order/create"


@dataclass
class BybitVenue:
    fake: FakeBybit
    broker: CcxtBroker
    fresh: CcxtBroker
    account: Account
    symbol: str = "BTC/USDT"
    price: Decimal = Decimal(60000)
    quantity: Decimal = Decimal(2)
    faults: frozenset[str] = field(default_factory=lambda: frozenset(_KINDS))
    partial_fills: bool = True

    async def set_price(self, price: Decimal) -> None:
        self.fake.set_price("BTCUSDT", price)

    def fail_next_submit(self, kind: str) -> None:
        self.fake.faults.fail_next(_PLACE, _KINDS[kind])

    def refusing(self, order: OrderRequest) -> tuple[OrderRequest, str]:
        reason = "ab not enough for new order (contract suite)"
        self.fake.faults.fail_next(_PLACE, "reject", message=reason)
        return order, reason

    def placement_requests(self, client_order_id: str) -> int:
        return self.fake.placements(venue_client_id(client_order_id,
                                                    VENUES["bybit"].client_ids))

    async def fill_partially(self, client_order_id: str, quantity: Decimal) -> None:
        vid = venue_client_id(client_order_id, VENUES["bybit"].client_ids)
        self.fake.fill_partially(vid, quantity)


@asynccontextmanager
async def open_venue() -> AsyncIterator[BybitVenue]:
    fake = FakeBybit(hang_seconds=0.6)
    await fake.start()
    broker, fresh = (CcxtBroker("bybit", ManualClock(), timeout=0.3, attempts=3,
                                base_wait=0.01, max_wait=0.02, rate_limit=False)
                     for _ in range(2))
    try:
        account = make_account(broker="bybit", exchange=ExchangeConfig(
            api_key=FAKE_KEY, secret=FAKE_SECRET, market="perp", leverage=3,
            url_override=fake.url))
        venue = BybitVenue(fake, broker, fresh, account)
        await venue.set_price(venue.price)
        yield venue
    finally:
        await broker.close()
        await fresh.close()
        await fake.stop()
