"""The risk ledger of one account: today's orders and orders not yet filled.

Kept in NATS KV and updated with compare-and-set, so two signals decided at the
same time (by one risk instance or several) each see the other's reservation:
two orders that fit a limit alone but not together cannot both pass. What each
signal was answered is kept apart (:class:`RiskDecisions`), one key per signal, so
no read or write of a signal grows with the account's history.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from contracts.orders import OrderRequest
from contracts.subjects import token
from libs.runtime.partitions.fence import CURRENT_TENURE, write_epoch


class Reservation(msgspec.Struct, frozen=True, kw_only=True):
    """An order decided but not yet reflected in the broker's positions."""

    signal_id: str
    symbol: str
    signed_quantity: Decimal
    notional: Decimal
    # The decision itself, so a redelivered signal gets the same order again
    # (None in ledgers written before it was kept).
    order: OrderRequest | None = None
    # How much of the order has filled while it rests (``order.partially_filled``):
    # that part is in the broker's position already.
    filled: Decimal = Decimal(0)

    def open_quantity(self) -> Decimal:
        """The signed quantity not yet in the broker's position."""
        part = min(self.filled, abs(self.signed_quantity))
        return self.signed_quantity - part if self.signed_quantity > 0 \
            else self.signed_quantity + part


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """A signal risk refused: the same answer for a redelivery of it, whatever the
    account looks like by then (a refused signal ended; it may never trade later)."""

    code: str
    reason: str
    details: dict[str, Any] = {}


class RiskLedger(msgspec.Struct, kw_only=True):
    """Today's counters and the open reservations of one account.

    Its size does not grow with the account's history: the day's orders are two
    counters, and a reservation leaves when its order ends. Each signal's answer is
    remembered apart, in :class:`RiskDecisions`.
    """

    day: str = ""
    day_start_equity: Decimal | None = None
    orders_today: int = 0
    notional_today: Decimal = Decimal(0)
    pending: dict[str, Reservation] = {}
    # Ledgers written before the counters kept every order and refusal of the day
    # (client order id → notional / refusal): read, never written, gone at the roll.
    today: dict[str, Decimal] = {}
    refused: dict[str, Refusal] = {}
    # The partition epoch it was written under (libs/runtime/partitions/fence.py).
    epoch: int = 0

    def __post_init__(self) -> None:
        if self.today and not self.orders_today:
            self.orders_today = len(self.today)
            self.notional_today = sum(self.today.values(), Decimal(0))

    def roll(self, day: str, equity: Decimal) -> None:
        """Start a new day: counters reset, the day's starting equity is ``equity``."""
        if self.day != day:
            if self.day:  # a ledger that never rolled keeps refusals made before it did
                self.refused = {}
            self.day = day
            self.day_start_equity = equity
            self.orders_today = 0
            self.notional_today = Decimal(0)
            self.today = {}

    def count(self, notional: Decimal) -> None:
        """One more order today, worth ``notional``."""
        self.orders_today += 1
        self.notional_today += notional

    def pending_quantity(self, symbol: str) -> Decimal:
        """Signed quantity of ``symbol`` decided but not yet filled."""
        return sum((r.open_quantity() for r in self.pending.values() if r.symbol == symbol),
                   Decimal(0))


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """Risk's answer to one signal, remembered so a redelivery gets it again: its
    order was requested (``ordered``), or it was refused."""

    ordered: bool = False
    refusal: Refusal | None = None


_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(RiskLedger)


class RiskLedgers:
    """Load and save ledgers with compare-and-set.

    The last version of each account's ledger this process wrote is kept (decoded,
    with its revision), so the usual signal costs one KV write instead of a read,
    a decode and a write. A kept ledger may be stale only if another risk instance
    wrote the account since; a save after it then fails its compare-and-set, the
    kept version is dropped and the caller decides again on a fresh read. Answers
    that write nothing (a refusal, a reservation not found) must not rest on a
    kept version: callers read fresh for those (``fresh=True``).
    """

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv
        # The ledger of each account as this process last saved it, with its
        # revision. Taken by whoever loads it (no two callers share one object, and
        # one changed but not saved is gone); put back by a successful save.
        self._kept: dict[str, tuple[RiskLedger, int]] = {}

    async def load(self, account_id: str, fresh: bool = True
                   ) -> tuple[RiskLedger, int | None]:
        """The ledger and its revision (None when it does not exist yet); with
        ``fresh=False`` the one this process saved last, when it has it. Under a
        partition tenure, the one this process saved in the same tenure is exact
        (only the owner writes), so it is used even when ``fresh`` is asked."""
        kept = self._kept.pop(account_id, None)
        if kept is not None and (not fresh or _written_in_this_tenure(kept[0])):
            return kept
        try:
            entry = await self.kv.get(token(account_id))
        except KeyNotFoundError:
            return RiskLedger(), None
        return _decoder.decode(entry.value or b"{}"), entry.revision

    async def save(self, account_id: str, ledger: RiskLedger, revision: int | None) -> bool:
        """Write if nobody changed it since ``revision``; False means decide again.
        Under a partition tenure, a ledger a newer owner wrote is never overwritten
        (:class:`~libs.runtime.partitions.fence.NotOwner`)."""
        ledger.epoch = write_epoch(ledger.epoch)
        data = _encoder.encode(ledger)
        self._kept.pop(account_id, None)
        try:
            if revision is None:
                written = await self.kv.create(token(account_id), data)
            else:
                written = await self.kv.update(token(account_id), data, last=revision)
        except KeyWrongLastSequenceError:
            return False
        self._kept[account_id] = (ledger, written)
        return True

    async def unreserve(self, account_id: str, client_order_id: str,
                        notional: Decimal) -> None:
        """Undo a reservation whose signal was answered otherwise (not counted)."""
        fresh = False
        while True:
            ledger, revision = await self.load(account_id, fresh)
            if ledger.pending.pop(client_order_id, None) is None:
                if fresh:
                    return
                fresh = True  # not in the kept version: make sure
                continue
            ledger.orders_today = max(ledger.orders_today - 1, 0)
            ledger.notional_today = max(ledger.notional_today - notional, Decimal(0))
            if await self.save(account_id, ledger, revision):
                return

    async def release(self, account_id: str, *signal_ids: str) -> bool:
        """Drop the reservations of signals whose orders filled or ended, in one
        write (idempotent); True if there was one."""
        wanted = set(signal_ids)
        fresh = False
        while True:
            ledger, revision = await self.load(account_id, fresh)
            held = [coid for coid, r in ledger.pending.items() if r.signal_id in wanted]
            found = {ledger.pending[coid].signal_id for coid in held}
            if len(found) < len(wanted) and not fresh:
                # Not all in the kept version (one may be another instance's): make sure.
                fresh = True
                continue
            if not held:
                return False
            for coid in held:
                del ledger.pending[coid]
            if await self.save(account_id, ledger, revision):
                return True


    async def partly_filled(self, account_id: str, filled: dict[str, Decimal]) -> bool:
        """Resting orders (by client order id) filled this much so far: their
        reservations count only the rest, in one write (idempotent, never back);
        True if one changed."""
        fresh = False
        while True:
            ledger, revision = await self.load(account_id, fresh)
            grown = {coid: quantity for coid, quantity in filled.items()
                     if coid in ledger.pending and quantity > ledger.pending[coid].filled}
            if not grown:
                if fresh:
                    return False
                fresh = True  # not in the kept version: make sure
                continue
            for coid, quantity in grown.items():
                ledger.pending[coid] = msgspec.structs.replace(ledger.pending[coid],
                                                               filled=quantity)
            if await self.save(account_id, ledger, revision):
                return True


def _written_in_this_tenure(ledger: RiskLedger) -> bool:
    """The ledger was saved by this process under the partition tenure it runs in
    now: nobody else can have written it since."""
    tenure = CURRENT_TENURE.get()
    return tenure is not None and ledger.epoch == tenure.epoch


_decision_decoder = msgspec.json.Decoder(Decision)


class RiskDecisions:
    """One key per decided signal (its client order id), kept for
    ``streams.RISK_DECISIONS_KEEP_S``: far longer than any redelivery of a signal
    can come, and apart from the ledger so the ledger stays small."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def get(self, client_order_id: str) -> Decision | None:
        """The answer given to the signal, if it was decided."""
        try:
            entry = await self.kv.get(token(client_order_id))
        except KeyNotFoundError:
            return None
        return _decision_decoder.decode(entry.value or b"{}")

    async def remember(self, client_order_id: str, decision: Decision) -> Decision:
        """Remember ``decision``; the one remembered first when there is one already."""
        try:
            await self.kv.create(token(client_order_id), _encoder.encode(decision))
        except KeyWrongLastSequenceError:
            first = await self.get(client_order_id)
            if first is not None:
                return first
            raise
        return decision
