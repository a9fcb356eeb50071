"""Orders resting at a broker, remembered until they fill or end.

Each entry (NATS KV, key ``<account>.<client order id>``) holds what is needed to
end the signal later: who it belongs to and which broker has it.
"""

from __future__ import annotations

import contextlib

import msgspec
from nats.js.errors import KeyDeletedError, KeyNotFoundError, NoKeysError
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

    @property
    def leg(self) -> str:
        """``sl``/``tp`` for a protective leg, else ""."""
        return self.request.leg if self.request is not None else ""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(OpenOrder)


def _key(account_id: str, client_order_id: str) -> str:
    return f"{token(account_id)}.{token(client_order_id)}"


class OpenOrders:
    """The KV bucket of resting orders."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def remember(self, order: OpenOrder) -> None:
        """Record a resting order (idempotent)."""
        await self.kv.put(_key(order.account_id, order.client_order_id), _encoder.encode(order))

    async def forget(self, order: OpenOrder) -> None:
        """Drop an order that has ended."""
        with contextlib.suppress(KeyNotFoundError):
            await self.kv.delete(_key(order.account_id, order.client_order_id))

    async def all(self) -> list[OpenOrder]:
        """Every remembered order."""
        try:
            keys = await self.kv.keys()
        except NoKeysError:
            return []
        out: list[OpenOrder] = []
        for key in keys:
            try:
                entry = await self.kv.get(key)
            except (KeyNotFoundError, KeyDeletedError):  # forgotten meanwhile
                continue
            if entry.value:
                out.append(_decoder.decode(entry.value))
        return out
