"""Paper broker: fills market orders against the last price, state in NATS KV.

Each account is one KV entry updated with compare-and-set, so several executor
instances never lose an update, and the entry remembers every client order id it
filled, so a redelivered order request returns the first fill instead of a second.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from uuid import NAMESPACE_OID, uuid5

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from contracts.orders import Fill, OrderRequest
from projections.ledger import Book, apply_fill
from services.brokers.base import AccountSnapshot, BrokerRejected
from services.registry.models import Account
from services.runtime.clock import Clock

PRICE_QUANTUM = Decimal("0.000001")
BPS = Decimal(10_000)


class PaperAccount(msgspec.Struct, kw_only=True):
    """The simulator's whole state for one account."""

    book: Book
    orders: dict[str, Fill] = {}


_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(PaperAccount)


def fill_price(reference: Decimal, side: str, slippage_bps: Decimal) -> Decimal:
    """Reference price moved against the trader by the slippage."""
    factor = 1 + slippage_bps / BPS if side == "buy" else 1 - slippage_bps / BPS
    return (reference * factor).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)


def execute(
    state: PaperAccount, order: OrderRequest, slippage_bps: Decimal, fee_bps: Decimal,
    now: datetime,
) -> Fill:
    """Pure fill decision: mutate ``state`` and return the fill, or raise BrokerRejected."""
    book = state.book
    symbol = order.symbol
    reference = order.reference_price or book.last_prices.get(symbol)
    if reference is None or reference <= 0:
        raise BrokerRejected("no_price", f"no price known for {symbol}; send the alert price")
    side = order.side
    quantity = order.quantity
    held = book.position_quantity(symbol)
    if order.close_position:
        if held == 0:
            raise BrokerRejected("no_position", f"no open position in {symbol} to close")
        side = "sell" if held > 0 else "buy"
        quantity = abs(held)
    if quantity <= 0:
        raise BrokerRejected("bad_quantity", f"order quantity must be positive, got {quantity}")
    price = fill_price(reference, side, slippage_bps)
    fee = (price * quantity * fee_bps / BPS).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)
    # Only the part of the order that opens new exposure needs buying power: the
    # part that reduces (or closes) the held position releases it.
    reduces = held != 0 and (held > 0) != (side == "buy")
    opening = max(quantity - abs(held), Decimal(0)) if reduces else quantity
    if opening > 0 and not order.close_position and price * opening + fee > book.equity():
        raise BrokerRejected(
            "insufficient_buying_power",
            f"order needs {price * opening + fee:.2f} {book.currency}, "
            f"equity is {book.equity():.2f}",
        )
    realised = apply_fill(book, symbol, side, quantity, price, fee)
    fill = Fill(
        order_id=str(uuid5(NAMESPACE_OID, order.client_order_id)),
        client_order_id=order.client_order_id, symbol=symbol, side=side, quantity=quantity,
        average_price=price, fee=fee, filled_at=now,
        position_quantity=book.position_quantity(symbol), cash_after=book.cash,
        realised_pnl=realised,
    )
    state.orders[order.client_order_id] = fill
    return fill


class PaperBroker:
    """The default broker: a simulator whose state lives in a KV bucket."""

    name = "paper"

    def __init__(self, kv: KeyValue, clock: Clock, slippage_bps: Decimal,
                 fee_bps: Decimal) -> None:
        self.kv = kv
        self.clock = clock
        self.slippage_bps = slippage_bps
        self.fee_bps = fee_bps

    async def _load(self, account: Account) -> tuple[PaperAccount, int | None]:
        try:
            entry = await self.kv.get(account.id)
        except KeyNotFoundError:
            return PaperAccount(book=Book(currency=account.currency,
                                          cash=account.starting_cash)), None
        return _decoder.decode(entry.value or b""), entry.revision

    async def snapshot(self, account: Account) -> AccountSnapshot:
        """Cash, equity, positions and last prices of the simulated account."""
        state, _ = await self._load(account)
        book = state.book
        return AccountSnapshot(
            cash=book.cash, equity=book.equity(),
            positions={s: p.quantity for s, p in book.positions.items()},
            last_prices=dict(book.last_prices),
        )

    async def find_order(self, account: Account, client_order_id: str) -> Fill | None:
        """The fill recorded for ``client_order_id``, if the order was placed."""
        state, _ = await self._load(account)
        return state.orders.get(client_order_id)

    async def submit(self, account: Account, order: OrderRequest) -> Fill:
        """Fill the order once; a repeat returns the first fill unchanged."""
        slippage = account.slippage_bps if account.slippage_bps is not None else self.slippage_bps
        fee_bps = account.fee_bps if account.fee_bps is not None else self.fee_bps
        while True:
            state, revision = await self._load(account)
            existing = state.orders.get(order.client_order_id)
            if existing is not None:
                return existing
            fill = execute(state, order, slippage, fee_bps, self.clock.now())
            data = _encoder.encode(state)
            try:
                if revision is None:
                    await self.kv.create(account.id, data)
                else:
                    await self.kv.update(account.id, data, last=revision)
            except KeyWrongLastSequenceError:
                continue  # another executor changed the account: decide again
            return fill
