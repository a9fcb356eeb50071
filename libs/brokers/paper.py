"""Paper broker: a simulator whose accounts live in NATS KV.

Market orders fill at the reference price (the alert's, else the last known one)
moved against the trader by the slippage. Limit and stop orders rest until a
later price crosses them. Each account is one KV entry updated with
compare-and-set, so several executor instances never lose an update, and it
remembers every client order id it saw, so a redelivered request returns the
first result instead of trading again.

The entry keeps the open orders and the latest closed ones; older closed orders move
to a key of their own (``<account>.order.<hash>``), written before they leave the
entry, so an order is always findable and the entry — read on every order, fill
and risk check — stays small however long the account trades.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from uuid import NAMESPACE_OID, uuid5

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from contracts.orders import BrokerOrder, Fill, OrderRequest, Side
from domain.ledger import Book, apply_fill, marked
from domain.protection import closing_side, leg_fixes
from libs.brokers.base import AccountSnapshot, BrokerRejected
from libs.brokers.capabilities import PAPER, Capabilities
from libs.brokers.market_prices import MarketPrices
from libs.registry.models import Account
from libs.runtime.clock import Clock
from libs.runtime.partitions.fence import write_epoch

PRICE_QUANTUM = Decimal("0.000001")
BPS = Decimal(10_000)
ZERO = Decimal(0)


class PaperAccount(msgspec.Struct, kw_only=True):
    """The simulator's state for one account (older closed orders aside)."""

    book: Book
    orders: dict[str, BrokerOrder] = {}
    # How many closed orders were moved to keys of their own.
    archived: int = 0
    # Client order ids of the latest fills, oldest first (see AccountSnapshot).
    recent_fills: list[str] = []
    # The partition epoch it was written under (libs/runtime/partitions/fence.py).
    epoch: int = 0


# Fills remembered for risk: far more than can be decided between a fill and the
# release of its reservation.
KEEP_RECENT_FILLS = 200


# Closed orders kept in the account's entry; past twice this many, the oldest move out.
# Few: the entry is read and written whole on every order (100 closed orders made
# it 74 KB: a sixth of the executor's CPU per signal, and nats-server's too).
KEEP_CLOSED = 10
_order_decoder = msgspec.json.Decoder(BrokerOrder)


class _BookOnly(msgspec.Struct):
    """An account entry read for its book alone: the orders are skipped, not built."""

    book: Book
    recent_fills: list[str] = []


_book_decoder = msgspec.json.Decoder(_BookOnly)


def archive_key(account_id: str, client_order_id: str) -> str:
    """The KV key of a closed order moved out of its account's entry."""
    return f"{account_id}.order.{hashlib.sha256(client_order_id.encode()).hexdigest()[:32]}"


def orders_to_archive(state: PaperAccount, keep: int = KEEP_CLOSED) -> list[BrokerOrder]:
    """The oldest closed orders once more than ``2 * keep`` are held (in batches, so
    not every save moves some)."""
    closed = [o for o in state.orders.values() if o.status != "open"]
    return closed[:len(closed) - keep] if len(closed) > 2 * keep else []


_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(PaperAccount)


def fill_price(reference: Decimal, side: str, slippage_bps: Decimal) -> Decimal:
    """Reference price moved against the trader by the slippage."""
    factor = 1 + slippage_bps / BPS if side == "buy" else 1 - slippage_bps / BPS
    return (reference * factor).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)


def _order_id(client_order_id: str) -> str:
    return str(uuid5(NAMESPACE_OID, client_order_id))


def crosses(order: BrokerOrder, price: Decimal) -> bool:
    """Would a market at ``price`` trigger this resting order?"""
    if order.order_type == "limit" and order.limit_price is not None:
        return price <= order.limit_price if order.side == "buy" else price >= order.limit_price
    if order.order_type == "stop" and order.stop_price is not None:
        return price >= order.stop_price if order.side == "buy" else price <= order.stop_price
    return False


def _fill(state: PaperAccount, order: BrokerOrder, price: Decimal, fee_bps: Decimal,
          now: datetime, check_power: bool) -> BrokerOrder:
    """Apply a fill of ``order`` at ``price``; returns the filled order (or rejected)."""
    book = state.book
    held = book.position_quantity(order.symbol)
    quantity = order.quantity
    if order.close_quantity > 0:
        # A flip closes whatever opposite position is held *now* (it may have
        # changed while the order rested), then opens the entry part.
        opposite = abs(held) if held != 0 and (held > 0) != (order.side == "buy") else ZERO
        quantity = order.quantity - order.close_quantity + opposite
        order = msgspec.structs.replace(order, quantity=quantity, close_quantity=opposite)
    fee = (price * quantity * fee_bps / BPS).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)
    # Only the part that opens new exposure needs buying power: the part that
    # reduces (or closes) the held position releases it.
    reduces = held != 0 and (held > 0) != (order.side == "buy")
    opening = max(quantity - abs(held), ZERO) if reduces else quantity
    if check_power and opening > 0 and price * opening + fee > book.equity():
        raise BrokerRejected(
            "insufficient_buying_power",
            f"order needs {price * opening + fee:.2f} {book.currency}, "
            f"equity is {book.equity():.2f}",
        )
    realised = apply_fill(book, order.symbol, order.side, quantity, price, fee)
    fill = Fill(
        order_id=order.order_id, client_order_id=order.client_order_id, symbol=order.symbol,
        side=order.side, quantity=quantity, average_price=price, fee=fee, filled_at=now,
        position_quantity=book.position_quantity(order.symbol), cash_after=book.cash,
        realised_pnl=realised,
    )
    return msgspec.structs.replace(order, status="filled", fill=fill, filled_quantity=quantity,
                                   average_fill_price=price)


def execute(
    state: PaperAccount, order: OrderRequest, slippage_bps: Decimal, fee_bps: Decimal,
    now: datetime, market_price: Decimal | None = None,
) -> BrokerOrder:
    """Pure decision for a new order: mutate ``state`` and return the order's state.

    The market is the order's reference price for market orders (the alert's
    price), else ``market_price`` (the last tick), else the account's last price.
    For limit and stop orders the alert's price is the order's own price, not a
    market observation. Raises BrokerRejected, leaving ``state`` unchanged.
    """
    book = state.book
    symbol = order.symbol
    reference = order.reference_price if order.order_type == "market" else None
    last = (reference if reference is not None and reference > 0 else None) \
        or market_price or book.last_prices.get(symbol)
    side: Side = order.side
    quantity = order.quantity
    held = book.position_quantity(symbol)
    if order.close_position:
        if held == 0:
            raise BrokerRejected("no_position", f"no open position in {symbol} to close")
        side = "sell" if held > 0 else "buy"
        quantity = abs(held)
    if quantity <= 0:
        raise BrokerRejected("bad_quantity", f"order quantity must be positive, got {quantity}")
    placed = BrokerOrder(
        order_id=_order_id(order.client_order_id), client_order_id=order.client_order_id,
        symbol=symbol, side=side, quantity=quantity, order_type=order.order_type,
        status="open", submitted_at=now, limit_price=order.limit_price,
        stop_price=order.stop_price, notional=order.notional,
        close_quantity=order.close_quantity, leg=order.leg, oco_group=order.oco_group,
        trail_pct=order.trail_pct,
    )
    if order.oco_group and any(o.oco_group == order.oco_group and o.status == "filled"
                               for o in state.orders.values()):
        result = msgspec.structs.replace(placed, status="canceled",
                                         reason="OCO: another leg of the group filled")
        state.orders[order.client_order_id] = result
        return result
    if (order.reduce_only or order.leg) and not order.close_position:
        # Partial exits and protective legs only ever reduce the position held now.
        if closing_side(held) != side:
            wanted = "long" if side == "sell" else "short"
            what = "protect" if order.leg else "reduce"
            raise BrokerRejected("no_position", f"no {wanted} position in {symbol} to {what}")
        placed = msgspec.structs.replace(placed, quantity=min(quantity, abs(held)))
    if order.order_type == "market":
        if last is None or last <= 0:
            raise BrokerRejected("no_price", f"no price known for {symbol}; send the alert price")
        result = _fill(state, placed, fill_price(last, side, slippage_bps), fee_bps, now,
                       check_power=not order.close_position)
    elif order.order_type == "limit" and placed.limit_price is None:
        raise BrokerRejected("missing_limit_price", "a limit order needs a limit price")
    elif order.order_type == "stop" and placed.stop_price is None:
        raise BrokerRejected("missing_stop_price", "a stop order needs a stop price")
    elif last is not None and crosses(placed, last):
        result = _fill(state, placed, _trigger_price(placed, last, slippage_bps), fee_bps,
                       now, check_power=True)
    elif order.time_in_force == "ioc":
        result = msgspec.structs.replace(
            placed, status="canceled", reason="immediate-or-cancel order was not marketable")
    else:
        result = placed
    if last is not None and result.fill is None:
        book.last_prices[symbol] = last  # a fill records its own price
    state.orders[order.client_order_id] = result
    if result.status == "filled":
        _after_fill(state, result)
    elif result.leg and result.status == "open":
        apply_fixes(state, symbol)  # a newer entry's legs replace the older ones
    return result


def rejected(order: OrderRequest, refusal: BrokerRejected, now: datetime) -> BrokerOrder:
    """The record of a refused order (``reason`` says why, with the refusal's code)."""
    return BrokerOrder(
        order_id=_order_id(order.client_order_id), client_order_id=order.client_order_id,
        symbol=order.symbol, side=order.side, quantity=order.quantity,
        order_type=order.order_type, status="rejected", submitted_at=now,
        limit_price=order.limit_price, stop_price=order.stop_price, leg=order.leg,
        oco_group=order.oco_group, reason=f"{refusal.code}: {refusal.reason}")


def trail(order: BrokerOrder, price: Decimal) -> BrokerOrder:
    """Move a trailing stop toward the market (never away from it)."""
    if order.trail_pct is None or order.order_type != "stop" or order.stop_price is None:
        return order
    distance = order.trail_pct / Decimal(100)
    if order.side == "sell":  # protects a long: the stop only rises
        candidate = (price * (1 - distance)).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)
        better = candidate > order.stop_price
    else:  # protects a short: the stop only falls
        candidate = (price * (1 + distance)).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)
        better = candidate < order.stop_price
    return msgspec.structs.replace(order, stop_price=candidate) if better else order


def _trigger_price(order: BrokerOrder, market: Decimal, slippage_bps: Decimal) -> Decimal:
    """Limit orders fill at their limit or better; stops become market orders."""
    if order.order_type == "limit" and order.limit_price is not None:
        better = min(market, order.limit_price) if order.side == "buy" else max(
            market, order.limit_price)
        return better.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)
    return fill_price(market, order.side, slippage_bps)


def observe_price(state: PaperAccount, symbol: str, price: Decimal, slippage_bps: Decimal,
                  fee_bps: Decimal, now: datetime) -> list[BrokerOrder]:
    """Record a market price and fill every resting order it crosses (in placement
    order); returns the orders whose state changed."""
    state.book.last_prices[symbol] = price
    changed: list[BrokerOrder] = []
    for coid in list(state.orders):
        # Read the order afresh: a fill earlier in this pass may have cancelled or
        # shrunk it (its OCO sibling filled, the position moved under it).
        order = state.orders[coid]
        if order.status != "open" or order.symbol != symbol:
            continue
        order = state.orders[coid] = trail(order, price)
        if crosses(order, price):
            changed += fill_resting(state, coid, _trigger_price(order, price, slippage_bps),
                                    fee_bps, now)
    return changed


def fill_resting(state: PaperAccount, client_order_id: str, price: Decimal, fee_bps: Decimal,
                 now: datetime) -> list[BrokerOrder]:
    """Fill the resting order ``client_order_id`` at ``price`` (as a market crossing it
    does; the what-if replay also fills an order where the recording's same order
    filled); returns the orders whose state changed: it, and the legs its fill
    cancelled or shrank."""
    order = state.orders[client_order_id]
    try:
        result = _fill(state, order, price, fee_bps, now, check_power=True)
    except BrokerRejected as exc:
        result = msgspec.structs.replace(order, status="rejected", reason=exc.reason)
    state.orders[client_order_id] = result
    if result.status == "filled":
        return [result, *_after_fill(state, result)]
    return [result]


def _remember_fill(state: PaperAccount, client_order_id: str) -> None:
    state.recent_fills.append(client_order_id)
    del state.recent_fills[:-KEEP_RECENT_FILLS]


def _after_fill(state: PaperAccount, filled: BrokerOrder) -> list[BrokerOrder]:
    """Make, in the same update, what a fill leaves harmless: the open siblings of a
    filled leg are cancelled (one-cancels-other), and the symbol's other legs follow
    the new position (:func:`domain.protection.leg_fixes`: cancelled when flat or on
    the wrong side, shrunk when larger than the position)."""
    _remember_fill(state, filled.client_order_id)
    changed = []
    if filled.oco_group:
        for coid, order in list(state.orders.items()):
            if order.status == "open" and order.oco_group == filled.oco_group:
                reason = f"OCO: the {filled.leg or 'other'} leg {filled.client_order_id} filled"
                state.orders[coid] = msgspec.structs.replace(order, status="canceled",
                                                             reason=reason)
                changed.append(state.orders[coid])
    return changed + apply_fixes(state, filled.symbol)


def apply_fixes(state: PaperAccount, symbol: str) -> list[BrokerOrder]:
    """Bring the open legs of ``symbol`` in line with the position; the changed orders."""
    position = state.book.position_quantity(symbol)
    changed = []
    for fix in leg_fixes(symbol, position, state.orders.values()):
        order = state.orders[fix.client_order_id]
        if fix.action == "cancel":
            order = msgspec.structs.replace(order, status="canceled", reason=fix.reason)
        else:
            order = msgspec.structs.replace(order, quantity=fix.quantity, reason=fix.reason)
        state.orders[fix.client_order_id] = order
        changed.append(order)
    return changed


class PaperBroker:
    """The default broker: a simulator whose state lives in a KV bucket.

    The account entries this process wrote last are kept (decoded, with their
    revision), so placing an order costs one compare-and-set write instead of a
    read, a decode and a write. Only changes use a kept entry: a stale one (another executor
    wrote the account since) fails the compare-and-set and is read again. Answers
    that write nothing (an order not found, nothing resting to fill) come from a
    fresh read, as every read-only call does.
    """

    name = "paper"
    capabilities: Capabilities = PAPER
    keeps_legs_with_position = True
    fills_report_position = True

    def __init__(self, kv: KeyValue, clock: Clock, slippage_bps: Decimal,
                 fee_bps: Decimal, prices: KeyValue | None = None,
                 keep_closed: int = KEEP_CLOSED) -> None:
        self.kv = kv
        self.keep_closed = keep_closed
        self.prices = MarketPrices(prices)
        self.clock = clock
        self.slippage_bps = slippage_bps
        self.fee_bps = fee_bps
        # Each account's entry as this process last saved it, with its revision.
        # Taken by whoever loads it (no two callers share one object, and one
        # changed but not saved is gone); put back by a successful save.
        self._kept: dict[str, tuple[PaperAccount, int]] = {}

    def _costs(self, account: Account) -> tuple[Decimal, Decimal]:
        slippage = account.slippage_bps if account.slippage_bps is not None else self.slippage_bps
        fee = account.fee_bps if account.fee_bps is not None else self.fee_bps
        return slippage, fee

    async def _load(self, account: Account, fresh: bool = True
                    ) -> tuple[PaperAccount, int | None]:
        """The account's entry and revision; with ``fresh=False`` the one this process
        saved last, when it has it (for changes only: see the class)."""
        kept = None if fresh else self._kept.pop(account.id, None)
        if kept is not None:
            return kept
        try:
            entry = await self.kv.get(account.id)
        except KeyNotFoundError:
            return PaperAccount(book=Book(currency=account.currency,
                                          cash=account.starting_cash)), None
        return _decoder.decode(entry.value or b""), entry.revision

    async def _load_book(self, account: Account) -> _BookOnly:
        try:
            entry = await self.kv.get(account.id)
        except KeyNotFoundError:
            return _BookOnly(Book(currency=account.currency, cash=account.starting_cash))
        return _book_decoder.decode(entry.value or b"")

    async def _save(self, account: Account, state: PaperAccount, revision: int | None) -> bool:
        state.epoch = write_epoch(state.epoch)  # an old partition owner stops here
        old = orders_to_archive(state, self.keep_closed)
        for order in old:  # first their own keys, then out of the entry: never lost
            await self.kv.put(archive_key(account.id, order.client_order_id),
                              _encoder.encode(order))
        for order in old:
            del state.orders[order.client_order_id]
        state.archived += len(old)
        data = _encoder.encode(state)
        self._kept.pop(account.id, None)
        try:
            if revision is None:
                written = await self.kv.create(account.id, data)
            else:
                written = await self.kv.update(account.id, data, last=revision)
        except KeyWrongLastSequenceError:
            return False  # another executor changed the account: decide again
        self._kept[account.id] = (state, written)
        return True

    async def snapshot(self, account: Account) -> AccountSnapshot:
        """Cash, equity, positions and last prices of the simulated account; positions
        are marked at the market's last price when one was recorded."""
        entry = await self._load_book(account)
        book = marked(entry.book, await self.prices.of(entry.book.positions))
        return AccountSnapshot(
            cash=book.cash, equity=book.equity(),
            positions={s: p.quantity for s, p in book.positions.items()},
            last_prices=dict(book.last_prices), recent_fills=frozenset(entry.recent_fills),
        )

    async def find_order(self, account: Account, client_order_id: str,
                         symbol: str | None = None) -> BrokerOrder | None:
        """The order recorded for ``client_order_id``, if it was placed (the book is
        keyed by it alone: ``symbol`` is not needed)."""
        state, _ = await self._load(account)
        return await self._known(account, state, client_order_id)

    async def _known(self, account: Account, state: PaperAccount,
                     client_order_id: str) -> BrokerOrder | None:
        """The order in the entry, else among the moved-out ones (none moved: no read)."""
        order = state.orders.get(client_order_id)
        if order is not None or not state.archived:
            return order
        try:
            entry = await self.kv.get(archive_key(account.id, client_order_id))
        except KeyNotFoundError:
            return None
        return _order_decoder.decode(entry.value) if entry.value else None

    async def record_price(self, symbol: str, price: Decimal,
                           at: datetime | None = None) -> bool:
        """Remember the market's last price of ``symbol`` for every account; False
        when a newer price is known already (then ``price`` is history)."""
        return await self.prices.record(symbol, price, at)

    async def market_price(self, symbol: str) -> Decimal | None:
        """The last price recorded for ``symbol``, if any."""
        return await self.prices.get(symbol)

    async def submit(self, account: Account, order: OrderRequest) -> BrokerOrder:
        """Place the order once; a repeat returns the first result unchanged — a
        refusal too (kept as a ``rejected`` order), so a redelivered request can never
        trade later what was refused at first."""
        slippage, fee_bps = self._costs(account)
        # The market price is read while the entry is looked at (one round trip).
        pricing = asyncio.ensure_future(self.market_price(order.symbol))
        try:
            fresh = False
            while True:
                state, revision = await self._load(account, fresh)
                existing = await self._known(account, state, order.client_order_id)
                if existing is not None:  # orders are never taken back: true if kept
                    return existing
                fresh = True  # a second try follows a failed compare-and-set
                market = await pricing
                try:
                    result = execute(state, order, slippage, fee_bps, self.clock.now(),
                                     market)
                except BrokerRejected as refusal:
                    state.orders[order.client_order_id] = rejected(order, refusal,
                                                                   self.clock.now())
                    if await self._save(account, state, revision):
                        raise
                    continue
                if await self._save(account, state, revision):
                    return result
        finally:
            if not pricing.done():
                pricing.cancel()
            await asyncio.gather(pricing, return_exceptions=True)

    async def submit_many(self, account: Account,
                          orders: Sequence[tuple[OrderRequest, Decimal | None]]
                          ) -> list[BrokerOrder | BrokerRejected]:
        """Place orders of one account in order, each at the market price given with
        it, as that many :meth:`submit` calls would, in one write: for each, its
        result or its refusal (a repeat gets its first result)."""
        slippage, fee_bps = self._costs(account)
        fresh = False
        while True:
            state, revision = await self._load(account, fresh)
            fresh = True  # a second try follows a failed compare-and-set
            known = await asyncio.gather(*(self._known(account, state, order.client_order_id)
                                           for order, _ in orders))
            results: list[BrokerOrder | BrokerRejected] = []
            changed = False
            for (order, market), earlier in zip(orders, known, strict=True):
                existing = earlier or state.orders.get(order.client_order_id)
                if existing is not None:
                    results.append(existing)
                    continue
                changed = True
                try:
                    results.append(execute(state, order, slippage, fee_bps, self.clock.now(),
                                           market))
                except BrokerRejected as refusal:
                    state.orders[order.client_order_id] = rejected(order, refusal,
                                                                   self.clock.now())
                    results.append(refusal)
            if not changed:
                if revision is not None:  # read only: still the one kept
                    self._kept[account.id] = (state, revision)
                return results
            if await self._save(account, state, revision):
                return results

    async def cancel_order(self, account: Account, client_order_id: str,
                           reason: str = "canceled") -> BrokerOrder | None:
        """Cancel a resting order (a filled or unknown one is returned as it is)."""
        fresh = False
        while True:
            state, revision = await self._load(account, fresh)
            order = state.orders.get(client_order_id)
            if order is None and not fresh:
                fresh = True  # placed by another executor, perhaps: look again
                continue
            if order is None:
                return await self._known(account, state, client_order_id)
            if order.status != "open":  # final: a closed order never opens again
                return order
            fresh = True
            canceled = msgspec.structs.replace(order, status="canceled", reason=reason)
            state.orders[client_order_id] = canceled
            if await self._save(account, state, revision):
                return canceled

    async def resize_order(self, account: Account, client_order_id: str, quantity: Decimal,
                           reason: str) -> BrokerOrder | None:
        """Shrink a resting order to ``quantity`` (never grows one)."""
        fresh = False
        while True:
            state, revision = await self._load(account, fresh)
            order = state.orders.get(client_order_id)
            if order is None and not fresh:
                fresh = True  # placed by another executor, perhaps: look again
                continue
            if order is None:
                return await self._known(account, state, client_order_id)
            # Final either way: orders only close and shrink.
            if order.status != "open" or order.quantity <= quantity:
                return order
            fresh = True
            resized = msgspec.structs.replace(order, quantity=quantity, reason=reason)
            state.orders[client_order_id] = resized
            if await self._save(account, state, revision):
                return resized

    async def open_orders(self, account: Account) -> list[BrokerOrder]:
        """Orders still resting."""
        state, _ = await self._load(account)
        return [o for o in state.orders.values() if o.status == "open"]

    async def observe_price(self, account: Account, symbol: str,
                            price: Decimal) -> list[BrokerOrder]:
        """Apply a market price to one account; returns resting orders it filled."""
        slippage, fee_bps = self._costs(account)
        while True:
            state, revision = await self._load(account)
            if not any(o.status == "open" and o.symbol == symbol for o in state.orders.values()):
                return []
            changed = observe_price(state, symbol, price, slippage, fee_bps, self.clock.now())
            if await self._save(account, state, revision):
                return changed
