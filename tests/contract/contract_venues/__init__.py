"""The venues the broker contract suite runs against: one module per adapter.

A venue module in this package registers itself by defining

- ``NAME``: the test id: the adapter's ``Account.broker`` name, or that and the
  market for a second venue of one adapter (``bybit-spot``), and
- ``open_venue()``: an async context manager yielding a :class:`Venue` (its fake
  venue started, the adapter built and pointed at it), stopped on exit.

Every module here is found by :func:`venue_modules`; nothing else needs editing.
The contract tests (``tests/contract/test_broker_contract.py``) then run against it:
``pytest tests/contract -k <NAME>`` runs one venue. Keep a venue fast: an in-process
fake server on 127.0.0.1 and an adapter with short timeouts and retry waits.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from types import ModuleType
from typing import Protocol

from contracts.orders import OrderRequest
from libs.brokers.base import Broker
from libs.registry.models import Account

FAULTS = ("lost_answer", "timeout", "429", "500", "503")
"""What a venue may be asked to do to the next order placement:

- ``lost_answer``: place the order, then drop the connection unanswered;
- ``timeout``: answer nothing in time (nothing placed);
- ``429`` / ``500`` / ``503``: answer that HTTP status (nothing placed).
"""


class Venue(Protocol):
    """A fake venue and the adapter under test, as the contract suite drives them."""

    broker: Broker
    # A second adapter for the same venue, built as a restarted executor builds it:
    # it has seen none of ``broker``'s orders (nothing remembered in the process).
    fresh: Broker
    # An account of the adapter, configured for the fake (keys, base URL).
    account: Account
    # A symbol the venue trades, spelled as the adapter receives it (after the
    # validator's normalisation), its market price when the venue opens, and an
    # order size the venue accepts for it (whole units, split in halves for partial
    # fills).
    symbol: str
    price: Decimal
    quantity: Decimal
    # Which FAULTS it can inject; the others' tests are skipped for it.
    faults: frozenset[str]
    # Can it fill part of a resting order (fill_partially)?
    partial_fills: bool

    async def set_price(self, price: Decimal) -> None:
        """Move the market of ``symbol``: resting orders it crosses fill."""
        ...

    def fail_next_submit(self, kind: str) -> None:
        """The next order placement meets the fault ``kind`` (one of :data:`FAULTS`)."""
        ...

    def refusing(self, order: OrderRequest) -> tuple[OrderRequest, str]:
        """An order like ``order`` that the venue will refuse, and a piece of the
        reason the venue gives (the adapter must pass it on)."""
        ...

    def placement_requests(self, client_order_id: str) -> int:
        """How many requests to place an order under this id the venue processed."""
        ...

    async def fill_partially(self, client_order_id: str, quantity: Decimal) -> None:
        """Fill ``quantity`` of the resting order (only when ``partial_fills``)."""
        ...


class VenueModule(Protocol):
    """What a module of this package defines."""

    NAME: str

    def open_venue(self) -> AbstractAsyncContextManager[Venue]: ...


def venue_modules() -> Sequence[ModuleType]:
    """Every venue module of this package, by name."""
    found = [importlib.import_module(f"{__name__}.{info.name}")
             for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")]
    return sorted(found, key=lambda module: str(module.NAME))
