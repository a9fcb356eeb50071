"""Orders resting at a broker, remembered until they fill or end.

Each entry (NATS KV, key ``<account>.<client order id>``) holds what is needed to
end the signal later: who it belongs to and which broker has it.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import msgspec
import orjson
from nats.js.errors import (
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
)
from nats.js.kv import KeyValue

from contracts.orders import OrderRequest
from contracts.subjects import token


class OpenOrder(msgspec.Struct, frozen=True, kw_only=True):
    """A resting order and the signal it belongs to."""

    client_order_id: str
    signal_id: str
    tenant_id: str
    strategy_id: str
    account_id: str
    broker: str
    symbol: str
    request: OrderRequest | None = None
    # Why the executor is cancelling it, for brokers that do not keep our reason.
    cancel_reason: str = ""
    # The part filled when last reported (``order.partially_filled``).
    filled_quantity: Decimal = Decimal(0)

    @property
    def leg(self) -> str:
        """``sl``/``tp`` for a protective leg, else ""."""
        return self.request.leg if self.request is not None else ""

    def resized(self, quantity: Decimal) -> OpenOrder:
        """The same order remembered at its new (smaller) size."""
        if self.request is None:
            return self
        return msgspec.structs.replace(
            self, request=msgspec.structs.replace(self.request, quantity=quantity))


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(OpenOrder)


_INDEX = "bysym"


def _key(account_id: str, client_order_id: str) -> str:
    return f"{token(account_id)}.{token(client_order_id)}"


class OpenOrders:
    """The KV bucket of resting orders."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def remember(self, order: OpenOrder) -> None:
        """Record a resting order (idempotent)."""
        key = _key(order.account_id, order.client_order_id)
        await self.kv.put(key, _encoder.encode(order))
        await self._index(order.symbol, add=key)

    async def get(self, account_id: str, client_order_id: str) -> OpenOrder | None:
        """The remembered order, if it is resting."""
        try:
            entry = await self.kv.get(_key(account_id, client_order_id))
        except (KeyNotFoundError, KeyDeletedError):
            return None
        return _decoder.decode(entry.value) if entry.value else None

    async def forget(self, order: OpenOrder) -> None:
        """Drop an order that has ended."""
        key = _key(order.account_id, order.client_order_id)
        await self._index(order.symbol, remove=key)
        with contextlib.suppress(KeyNotFoundError):
            await self.kv.delete(key)

    async def _index(self, symbol: str, add: str = "", remove: str = "") -> None:
        """Keep ``bysym.<symbol>`` = the keys of the symbol's open orders (CAS), so a
        price needs one read, not a scan of the bucket."""
        index_key = f"{_INDEX}.{token(symbol)}"
        while True:
            try:
                entry = await self.kv.get(index_key)
                keys, revision = set(orjson.loads(entry.value or b"[]")), entry.revision
            except (KeyNotFoundError, KeyDeletedError):
                keys, revision = set(), None
            updated = (keys | {add}) - {remove, ""}
            if updated == keys:
                return
            data = orjson.dumps(sorted(updated))
            try:
                if revision is None:
                    await self.kv.create(index_key, data)
                else:
                    await self.kv.update(index_key, data, last=revision)
                return
            except KeyWrongLastSequenceError:
                continue

    async def for_symbol(self, symbol: str) -> list[OpenOrder]:
        """The remembered orders of ``symbol`` (one read of its index, then each)."""
        try:
            entry = await self.kv.get(f"{_INDEX}.{token(symbol)}")
        except (KeyNotFoundError, KeyDeletedError):
            return []
        return await self._load(orjson.loads(entry.value or b"[]"))

    async def _load(self, keys: list[str]) -> list[OpenOrder]:
        """The orders under ``keys``, read together (one round trip)."""
        entries = await asyncio.gather(*(self.kv.get(key) for key in keys),
                                       return_exceptions=True)
        out: list[OpenOrder] = []
        for entry in entries:
            if isinstance(entry, KeyNotFoundError | KeyDeletedError):
                continue  # forgotten meanwhile
            if isinstance(entry, BaseException):
                raise entry
            if entry.value:
                out.append(_decoder.decode(entry.value))
        return out

    async def all(self) -> list[OpenOrder]:
        """Every remembered order."""
        try:
            keys = await self.kv.keys()
        except NoKeysError:
            return []
        return await self._load([k for k in keys if not k.startswith(f"{_INDEX}.")])
