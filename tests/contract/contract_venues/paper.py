"""The paper simulator as a contract venue: its accounts in an in-memory KV whose
writes can time out (before or after they happen), the way a NATS KV call can."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec
import nats.errors
import orjson
from factories import ManualClock, make_account
from fakes.memory import MemoryKV

from contracts.orders import OrderRequest
from libs.brokers.paper import PaperBroker
from libs.registry.models import Account

NAME = "paper"


class FaultyKV(MemoryKV):
    """A KV whose next write may time out: before it happens (``timeout``) or after
    (``lost_answer``: written, the answer lost). Counts the writes that placed an id."""

    def __init__(self) -> None:
        super().__init__()
        self.fault = ""
        self.placed: dict[str, int] = {}

    async def put(self, key: str, value: bytes) -> int:
        fault, self.fault = self.fault, ""
        if fault == "timeout":
            raise nats.errors.TimeoutError
        before = _order_ids(self.entries[key].value) if key in self.entries else set()
        revision = await super().put(key, value)
        for coid in _order_ids(value) - before:
            self.placed[coid] = self.placed.get(coid, 0) + 1
        if fault == "lost_answer":
            raise nats.errors.TimeoutError
        return revision


@dataclass
class PaperVenue:
    broker: PaperBroker
    fresh: PaperBroker
    kv: FaultyKV
    account: Account = field(default_factory=lambda: make_account(broker="paper"))
    symbol: str = "AAPL"
    price: Decimal = Decimal(100)
    quantity: Decimal = Decimal(10)
    faults: frozenset[str] = frozenset({"lost_answer", "timeout"})
    partial_fills: bool = False  # the simulator fills resting orders whole

    async def set_price(self, price: Decimal) -> None:
        await self.broker.record_price(self.symbol, price)
        await self.broker.observe_price(self.account, self.symbol, price)

    def fail_next_submit(self, kind: str) -> None:
        self.kv.fault = kind

    def refusing(self, order: OrderRequest) -> tuple[OrderRequest, str]:
        # More than the account's equity buys: the simulator refuses it.
        return msgspec.structs.replace(order, quantity=order.quantity * 1_000_000), "equity is"

    def placement_requests(self, client_order_id: str) -> int:
        return self.kv.placed.get(client_order_id, 0)

    async def fill_partially(self, client_order_id: str, quantity: Decimal) -> None:
        raise NotImplementedError("the simulator fills resting orders whole")


def _order_ids(entry: bytes) -> set[str]:
    """The client order ids an account entry holds (none in other keys' values)."""
    decoded = orjson.loads(entry) if entry else {}
    orders = decoded.get("orders") if isinstance(decoded, dict) else None
    return set(orders) if isinstance(orders, dict) else set()


@asynccontextmanager
async def open_venue() -> AsyncIterator[PaperVenue]:
    kv = FaultyKV()
    prices = MemoryKV()
    broker, fresh = (PaperBroker(kv, ManualClock(), slippage_bps=Decimal(0),
                                 fee_bps=Decimal(0), prices=prices) for _ in range(2))
    venue = PaperVenue(broker, fresh, kv)
    await venue.set_price(venue.price)
    yield venue
