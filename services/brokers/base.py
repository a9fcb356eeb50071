"""The broker adapter interface: small enough that a new broker is one module.

An adapter answers three questions: what does the account hold (for sizing and
risk), place this order (idempotently, keyed by ``client_order_id``), and was
this order already placed (so a redelivered request never submits twice).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

import msgspec

from contracts.orders import Fill, OrderRequest
from services.registry.models import Account


class AccountSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What risk needs to know about an account right now."""

    cash: Decimal
    equity: Decimal
    positions: dict[str, Decimal]
    last_prices: dict[str, Decimal]

    def position(self, symbol: str) -> Decimal:
        """Signed quantity held in ``symbol``."""
        return self.positions.get(symbol, Decimal(0))


class BrokerRejected(Exception):
    """The broker refused the order; the signal ends in ``webhook.failed``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Broker(Protocol):
    """A broker adapter."""

    name: str

    async def snapshot(self, account: Account) -> AccountSnapshot:
        """Cash, equity, positions and last known prices."""
        ...

    async def find_order(self, account: Account, client_order_id: str) -> Fill | None:
        """The fill of an order already placed with this id, if any."""
        ...

    async def submit(self, account: Account, order: OrderRequest) -> Fill:
        """Place ``order``; returns the existing fill if it was placed before."""
        ...
