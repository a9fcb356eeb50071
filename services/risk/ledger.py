"""The risk ledger of one account: today's orders and orders not yet filled.

Kept in NATS KV and updated with compare-and-set, so two signals decided at the
same time (by one risk instance or several) each see the other's reservation:
two orders that fit a limit alone but not together cannot both pass.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from contracts.orders import OrderRequest
from contracts.subjects import token


class Reservation(msgspec.Struct, frozen=True, kw_only=True):
    """An order decided but not yet reflected in the broker's positions."""

    signal_id: str
    symbol: str
    signed_quantity: Decimal
    notional: Decimal
    # The decision itself, so a redelivered signal gets the same order again
    # (None in ledgers written before it was kept).
    order: OrderRequest | None = None


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """A signal risk refused: the same answer for a redelivery of it, whatever the
    account looks like by then (a refused signal ended; it may never trade later)."""

    code: str
    reason: str
    details: dict[str, Any] = {}


class RiskLedger(msgspec.Struct, kw_only=True):
    """Today's counters and the open reservations of one account."""

    day: str = ""
    day_start_equity: Decimal | None = None
    # Every order decided today: client order id → notional (counts and sums).
    today: dict[str, Decimal] = {}
    pending: dict[str, Reservation] = {}
    # Signals refused today, by client order id.
    refused: dict[str, Refusal] = {}

    def roll(self, day: str, equity: Decimal) -> None:
        """Start a new day: counters reset, the day's starting equity is ``equity``."""
        if self.day != day:
            if self.day:  # a ledger that never rolled keeps refusals made before it did
                self.refused = {}
            self.day = day
            self.day_start_equity = equity
            self.today = {}

    def pending_quantity(self, symbol: str) -> Decimal:
        """Signed quantity of ``symbol`` decided but not yet filled."""
        return sum((r.signed_quantity for r in self.pending.values() if r.symbol == symbol),
                   Decimal(0))


_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(RiskLedger)


class RiskLedgers:
    """Load and save ledgers with compare-and-set."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def load(self, account_id: str) -> tuple[RiskLedger, int | None]:
        """The ledger and its revision (None when it does not exist yet)."""
        try:
            entry = await self.kv.get(token(account_id))
        except KeyNotFoundError:
            return RiskLedger(), None
        return _decoder.decode(entry.value or b"{}"), entry.revision

    async def save(self, account_id: str, ledger: RiskLedger, revision: int | None) -> bool:
        """Write if nobody changed it since ``revision``; False means decide again."""
        data = _encoder.encode(ledger)
        try:
            if revision is None:
                await self.kv.create(token(account_id), data)
            else:
                await self.kv.update(token(account_id), data, last=revision)
        except KeyWrongLastSequenceError:
            return False
        return True

    async def refuse(self, account_id: str, client_order_id: str, refusal: Refusal) -> Refusal:
        """Remember a refusal; the one remembered first when there is one already."""
        while True:
            ledger, revision = await self.load(account_id)
            first = ledger.refused.get(client_order_id)
            if first is not None:
                return first
            ledger.refused[client_order_id] = refusal
            if await self.save(account_id, ledger, revision):
                return refusal

    async def release(self, account_id: str, signal_id: str) -> bool:
        """Drop the reservation of a signal whose order filled or ended (idempotent);
        True if there was one."""
        while True:
            ledger, revision = await self.load(account_id)
            held = [coid for coid, r in ledger.pending.items() if r.signal_id == signal_id]
            if not held:
                return False
            for coid in held:
                del ledger.pending[coid]
            if await self.save(account_id, ledger, revision):
                return True
