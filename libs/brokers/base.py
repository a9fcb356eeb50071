"""The broker adapter interface: small enough that a new broker is one module.

An adapter answers three questions: what does the account hold (for sizing and
risk), place this order (idempotently, keyed by ``client_order_id``), and was
this order already placed (so a redelivered request never submits twice).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

import msgspec

from contracts.orders import BrokerOrder, OrderRequest
from libs.brokers.capabilities import Capabilities
from libs.registry.models import Account
from libs.runtime.outages import Outage


class AccountSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What risk needs to know about an account right now."""

    cash: Decimal
    equity: Decimal
    positions: dict[str, Decimal]
    last_prices: dict[str, Decimal]
    # Client order ids of the latest orders the positions already include (brokers
    # that can say so): risk must not count their reservations a second time.
    recent_fills: frozenset[str] = frozenset()

    def position(self, symbol: str) -> Decimal:
        """Signed quantity held in ``symbol``."""
        return self.positions.get(symbol, Decimal(0))


class BrokerRejected(Exception):
    """The broker refused the order; the signal ends in ``webhook.failed``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class BrokerReader(Protocol):
    """What every service but the executor may do with a broker: read."""

    name: str
    # What the broker can do (shorting, fractional sizes, stops, native OCO, ...): the
    # same value as ``libs.brokers.capabilities.DECLARED[name]``.
    capabilities: Capabilities
    # True when a fill says the position it left (``Fill.position_quantity``); else
    # the position must be read from the broker, as it is by then.
    fills_report_position: bool

    async def snapshot(self, account: Account) -> AccountSnapshot:
        """Cash, equity, positions and last known prices."""
        ...

    async def find_order(self, account: Account, client_order_id: str,
                         symbol: str | None = None) -> BrokerOrder | None:
        """The order placed earlier with this id, if any, resting or ended.

        ``symbol`` is the order's symbol when the caller knows it (the executor
        remembers it with every resting order): venues that look an order up per
        market (Binance) can find an ended order only with it. Without it they find
        resting orders only, unless this process placed or listed the order.
        """
        ...

    async def open_orders(self, account: Account) -> list[BrokerOrder]:
        """Orders still resting at the broker."""
        ...


class Broker(BrokerReader, Protocol):
    """A broker adapter for one account: the reads, and (the executor's alone, the
    one owner of orders) the writes.

    Every method that places or changes an order is keyed by our
    ``client_order_id`` so that a retried call never creates a second order.
    """

    # True when the broker itself keeps protective legs in line with the position in
    # the same update as every fill (the paper simulator); else the executor does it
    # right after each fill it sees.
    keeps_legs_with_position: bool

    async def submit(self, account: Account, order: OrderRequest) -> BrokerOrder:
        """Place ``order``; returns the existing order if it was placed before.

        Raises BrokerRejected for a refusal (never retried) and BrokerUnavailable
        when the broker could not be reached after retries (the caller may retry:
        the order is looked up by ``client_order_id`` first).
        """
        ...

    async def cancel_order(self, account: Account, client_order_id: str,
                           reason: str = "canceled") -> BrokerOrder | None:
        """Cancel an open order; returns it (None if unknown). ``reason`` is recorded
        where the broker keeps one."""
        ...

    async def resize_order(self, account: Account, client_order_id: str, quantity: Decimal,
                           reason: str) -> BrokerOrder | None:
        """Shrink a resting order to ``quantity`` (a protective leg larger than the
        position); returns it as the broker now knows it. A broker that cannot amend
        an order in place cancels it instead."""
        ...


class BrokerUnavailable(Outage):
    """The broker did not answer (timeouts, 429, 5xx) even after retries: the message
    waits it out, retried with backoff (an outage, not a bug: no traceback)."""
