"""What the ccxt venues of the contract suite share: the ccxt adapter over real HTTP
against a fake exchange (``tests/fakes``) with the common fault injection; each venue
module names its fake, its order route, its market and how it refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from factories import ManualClock, make_account

from contracts.orders import OrderRequest
from libs.brokers.ccxt_broker import CcxtBroker
from libs.brokers.ccxt_symbols import venue_client_id
from libs.brokers.ccxt_venues import VENUES
from libs.registry.models import Account, ExchangeConfig

# The suite's fault names, as the fakes' shared fault injection spells them.
KINDS = {"lost_answer": "accept_then_drop", "timeout": "timeout",
         "429": "429", "500": "500", "503": "503"}


class FakeExchange(Protocol):
    """What the suite needs of a fake exchange server."""

    url: str
    faults: Any

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def set_price(self, symbol: str, price: Decimal | str | int) -> None: ...

    def placements(self, client_order_id: str) -> int: ...


@dataclass
class CcxtVenue:
    """One ccxt venue as the contract suite drives it (see ``Venue``)."""

    name: str
    fake: FakeExchange
    broker: CcxtBroker
    fresh: CcxtBroker
    account: Account
    symbol: str
    market: str  # the symbol as the fake's book spells it
    place: str  # the order placement route, "POST /path"
    refusal: str  # a reason the venue gives for a refused order
    fill: Callable[[str, Decimal], None]  # fill part of an order, by its venue id
    price: Decimal = Decimal(60000)
    quantity: Decimal = Decimal(2)
    faults: frozenset[str] = field(default_factory=lambda: frozenset(KINDS))
    partial_fills: bool = True

    def sent_as(self, client_order_id: str) -> str:
        """Our id as the venue gets it (a digest where it is longer than allowed)."""
        return venue_client_id(client_order_id, VENUES[self.name].client_ids)

    async def set_price(self, price: Decimal) -> None:
        self.fake.set_price(self.market, price)

    def fail_next_submit(self, kind: str) -> None:
        self.fake.faults.fail_next(self.place, KINDS[kind])

    def refusing(self, order: OrderRequest) -> tuple[OrderRequest, str]:
        self.fake.faults.fail_next(self.place, "reject", message=self.refusal)
        return order, self.refusal

    def placement_requests(self, client_order_id: str) -> int:
        return self.fake.placements(self.sent_as(client_order_id))

    async def fill_partially(self, client_order_id: str, quantity: Decimal) -> None:
        self.fill(self.sent_as(client_order_id), quantity)


@asynccontextmanager
async def open_ccxt_venue(name: str, fake: FakeExchange,
                          exchange: Callable[[str], ExchangeConfig],
                          **venue: Any) -> AsyncIterator[CcxtVenue]:
    """Start ``fake``, build two adapters (the second as a restarted executor would),
    an account of ``exchange(fake.url)``, and the venue at its opening price."""
    await fake.start()
    broker, fresh = (CcxtBroker(name, ManualClock(), timeout=0.3, attempts=3,
                                base_wait=0.01, max_wait=0.02, rate_limit=False)
                     for _ in range(2))
    try:
        account = make_account(broker=name, exchange=exchange(fake.url))
        opened = CcxtVenue(name, fake, broker, fresh, account, **venue)
        await opened.set_price(opened.price)
        yield opened
    finally:
        await broker.close()
        await fresh.close()
        await fake.stop()
