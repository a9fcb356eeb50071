"""The replayed account: the live pipeline's pure decisions, run offline in one place.

What each live service decides, this decides with the same code, in the order the
services would: risk's gate, sizing and limits (:func:`route_gate`,
:func:`would_order`), the paper broker's fills, resting orders, OCO and legs that
follow the position (:func:`execute`, :func:`observe_price`), the SL/TP monitor's legs
after an entry fills (:func:`legs_for_fill`), trailing stops (inside
``observe_price``), the executor's sweeps and the portfolio breaker's trip
(:func:`decide`, :func:`liquidation`). Nothing is published and no broker is called.

Two differences from the live pipeline, both about time: an order is placed the
moment it is decided (live, the executor and the monitor run a few milliseconds
behind), and the breaker is checked when the replay says so (see ``replay.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from contracts.events import WebhookValidated
from contracts.orders import BrokerOrder, Fill, OrderRequest, entry_order_id
from domain.ledger import Book, marked
from domain.protection import is_leg
from libs.brokers.base import AccountSnapshot, BrokerRejected
from libs.brokers.paper import (
    BPS,
    PaperAccount,
    execute,
    fill_resting,
    observe_price,
    orders_to_archive,
)
from libs.registry.models import Account, BreakerConfig, Strategy, Tenant
from services.executor.sweeps import child_order_id
from services.risk.dry_run import would_order
from services.risk.ledger import Reservation, RiskLedger
from services.risk.limits import Exposure, order_notional
from services.risk.rules import RiskRefusal, client_order_id, route_gate
from services.sltp_monitor.breaker import BreakerState, decide, liquidation
from services.sltp_monitor.legs import legs_for_fill

ZERO = Decimal(0)


@dataclass(frozen=True)
class Costs:
    """The paper broker's costs for the account (basis points)."""

    slippage_bps: Decimal = Decimal(5)
    fee_bps: Decimal = ZERO


@dataclass(frozen=True)
class Seen:
    """How the market met one recorded order: the recording's request and its fill."""

    request: OrderRequest | None
    fill: Fill

    def fee_bps(self) -> Decimal:
        """The fee the recording paid, as a rate (so a larger order pays more)."""
        notional = self.fill.average_price * self.fill.quantity
        return self.fill.fee * BPS / notional if notional else ZERO


def terms(order: OrderRequest | BrokerOrder) -> tuple[Any, ...]:
    """What decides where and whether a market fills an order (not its size)."""
    return (order.symbol, order.side, order.order_type, order.limit_price, order.stop_price,
            order.trail_pct, order.leg)


class _At:
    """A clock standing at the moment being replayed."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class OfflineAccount:
    """One account's paper broker state, risk ledger, breaker state and pause."""

    def __init__(self, account_id: str, book: Book, orders: dict[str, BrokerOrder],
                 market: dict[str, Decimal], costs: Costs, paused: bool = False) -> None:
        self.account_id = account_id
        self.state = PaperAccount(book=book, orders=dict(orders))
        # Orders resting when the replay began: the recording's own, met as it met them.
        self.carried = {c for c, o in orders.items() if o.status == "open"}
        self.market = market  # the last price of every symbol (shared with the replay)
        self.costs = costs
        self.paused = paused
        self.ledger = RiskLedger()
        self.breaker = BreakerState()
        # Resting orders the replay placed: their request and strategy (for legs).
        self.requests: dict[str, tuple[OrderRequest, Strategy | None]] = {}
        self.signal_of: dict[str, str] = {}  # client order id → signal id
        self.carried_out: set[str] = set()  # reserved orders the executor placed
        self.fills_by_signal: dict[str, list[Fill]] = {}
        self.orders = self.legs_placed = self.legs_filled = 0
        self.refused: dict[str, int] = {}
        self.rejected: dict[str, int] = {}  # the broker's refusals, by code
        self.rejected_signals = 0  # signals whose order the broker refused
        self.trips: list[dict[str, str]] = []
        # The monitor places an entry's legs when it handles the entry's fill, which
        # can be after later signals were carried out: a signal whose legs the
        # recording placed gets the replay's legs there (:meth:`place_legs`).
        self.legs_to_come: set[str] = set()
        self.deferred: dict[str, list[tuple[OrderRequest, Strategy]]] = {}

    # -- what the account is worth ---------------------------------------------------

    def book(self) -> Book:
        """The book marked at the market's last prices (as the broker snapshot is)."""
        return marked(self.state.book, self.market)

    def snapshot(self, event: WebhookValidated) -> AccountSnapshot:
        """What risk reads from the broker, plus the market's price of a price-less
        alert's symbol (as risk adds it)."""
        book = self.book()
        prices = dict(book.last_prices)
        symbol = event.signal.symbol
        if symbol and event.signal.price is None and symbol in self.market:
            prices[symbol] = self.market[symbol]
        return AccountSnapshot(cash=book.cash, equity=book.equity(),
                               positions={s: p.quantity for s, p in book.positions.items()},
                               last_prices=prices,
                               recent_fills=frozenset(self.state.recent_fills))

    def resting(self) -> int:
        """Orders resting now."""
        return sum(1 for o in self.state.orders.values() if o.status == "open")

    # -- risk -------------------------------------------------------------------------

    def decide(self, event: WebhookValidated, strategy: Strategy, account: Account,
               tenant: Tenant | None) -> OrderRequest | RiskRefusal:
        """Risk's answer to a validated signal (the pause is the replay's own)."""
        at = event.occurred_at
        current = account.model_copy(update={"paused": self.paused})
        decided: OrderRequest | RiskRefusal | None = route_gate(tenant, strategy, current)
        if decided is None:
            coid = client_order_id(strategy, event.signal_id, event.signal.alert_time or at)
            snapshot = self.snapshot(event)
            decided = would_order(event, strategy, snapshot, self.ledger, coid, _At(at))
            if isinstance(decided, OrderRequest):
                self._reserve(event.signal_id, event.signal.price, decided, snapshot)
        if isinstance(decided, RiskRefusal):
            self.refused[decided.code] = self.refused.get(decided.code, 0) + 1
        else:
            self.orders += 1
        return decided

    def _reserve(self, signal_id: str, alert_price: Decimal | None, order: OrderRequest,
                 snapshot: AccountSnapshot) -> None:
        """Count the order today and hold it as a reservation until it ends, as risk
        does: a signal decided before this one is carried out sees it."""
        exposure = Exposure.of(snapshot, self.ledger)
        price = alert_price or exposure.prices.get(order.symbol) or order.reference_price \
            or ZERO
        notional = order_notional(order, price)
        held = exposure.positions.get(order.symbol, ZERO)
        signed = -held if order.close_position else (
            order.quantity if order.side == "buy" else -order.quantity)
        self.ledger.count(notional)
        self.ledger.pending[order.client_order_id] = Reservation(
            signal_id=signal_id, symbol=order.symbol, signed_quantity=signed,
            notional=notional, order=order)

    # -- the executor and the paper broker --------------------------------------------

    def carry_out(self, signal_id: str, order: OrderRequest, strategy: Strategy, at: datetime,
                  seen: Callable[[str], Seen | None]) -> None:
        """Execute a signal's order as the executor does (sweeps included)."""
        self.signal_of[order.client_order_id] = signal_id
        self.carried_out.add(order.client_order_id)
        try:
            self._carry_out(signal_id, order, strategy, at, seen)
        finally:
            self._tidy()

    def _carry_out(self, signal_id: str, order: OrderRequest, strategy: Strategy,
                   at: datetime, seen: Callable[[str], Seen | None]) -> None:
        if order.intent == "cancel_all":
            for coid, resting in list(self.state.orders.items()):
                if resting.status == "open" and not is_leg(resting) and \
                        (not order.symbol or resting.symbol == order.symbol):
                    self._cancel(coid, f"cancel_all by {order.client_order_id}")
            return
        if order.intent == "close_all" and not order.symbol:
            closed = False
            for symbol in order.symbols:
                child = msgspec.structs.replace(
                    order, client_order_id=child_order_id(order.client_order_id, symbol),
                    symbol=symbol, symbols=[], reference_price=None)
                self.signal_of[child.client_order_id] = signal_id
                placed = self.place(child, strategy, at, seen(child.client_order_id))
                closed = closed or (placed is not None and placed.status == "filled")
            self.rejected_signals += 0 if closed else 1  # nothing closed: it failed
            return
        if self.place(order, strategy, at, seen(order.client_order_id)) is None:
            self.rejected_signals += 1

    def place(self, request: OrderRequest, strategy: Strategy | None, at: datetime,
              seen: Seen | None = None) -> BrokerOrder | None:
        """Submit one order to the paper broker; None when it refused.

        A market order the recording placed with the same terms (``seen``; when the
        store lost the recording's request, the same symbol and side) fills at
        the price that one filled at, with its fee rate: the market the recording met
        (a tick the store does not hold, slippage included). Any other order meets
        the market the replay knows: the alert's price, else the last price seen.
        """
        if request.reference_price and request.order_type == "market":
            # The executor takes an alert's price as a market observation first.
            self.observe(request.symbol, request.reference_price, at)
        order, slippage, fee = request, self.costs.slippage_bps, self.costs.fee_bps
        market = self.market.get(request.symbol)
        if seen is not None and request.order_type == "market" and (
                terms(seen.request) == terms(request) if seen.request is not None
                else (seen.fill.symbol, seen.fill.side) == (request.symbol, request.side)):
            order = msgspec.structs.replace(request, reference_price=None)
            slippage, fee, market = ZERO, seen.fee_bps(), seen.fill.average_price
        try:
            result = execute(self.state, order, slippage, fee, at, market)
        except BrokerRejected as exc:
            self.rejected[exc.code] = self.rejected.get(exc.code, 0) + 1
            return None
        if result.status == "filled" and result.fill is not None:
            self._filled(result, request, strategy, at)
        elif result.status == "open":
            self.requests[request.client_order_id] = (request, strategy)
        self._tidy()
        return result

    def observe(self, symbol: str, price: Decimal, at: datetime) -> None:
        """A market price: resting orders it crosses fill, trailing stops follow it."""
        self.market[symbol] = price
        if any(o.status == "open" and o.symbol == symbol for o in self.state.orders.values()):
            fee = self.costs.fee_bps
            self._settle(observe_price(self.state, symbol, price, self.costs.slippage_bps, fee,
                                       at), at)

    def met_as_recorded(self, seen: Seen, at: datetime) -> bool:
        """The recording's resting order filled here: the replay's order with the same
        client order id and terms fills with it, at its price. False when the replay
        has no such order resting."""
        coid = seen.fill.client_order_id
        order = self.state.orders.get(coid)
        if order is None or order.status != "open":
            return False
        placed = self.requests.get(coid)
        if coid not in self.carried and (placed is None or seen.request is None
                                         or terms(placed[0]) != terms(seen.request)):
            return False
        self._settle(fill_resting(self.state, coid, seen.fill.average_price, seen.fee_bps(),
                                  at), at)
        return True

    def _cancel(self, coid: str, reason: str) -> None:
        order = self.state.orders[coid]
        self.state.orders[coid] = msgspec.structs.replace(order, status="canceled",
                                                          reason=reason)
        self.requests.pop(coid, None)

    def _settle(self, changed: list[BrokerOrder], at: datetime) -> None:
        for order in changed:
            if order.status == "filled" and order.fill is not None:
                placed = self.requests.get(order.client_order_id)
                request, strategy = placed if placed else (None, None)
                self._filled(order, request, strategy, at)
        self._tidy()

    def _filled(self, order: BrokerOrder, request: OrderRequest | None,
                strategy: Strategy | None, at: datetime) -> None:
        """Book a fill to its signal; an entry's fill gets the monitor's legs."""
        fill = order.fill
        assert fill is not None
        signal = self.signal_of.get(fill.client_order_id) or \
            self.signal_of.get(entry_order_id(fill.client_order_id), "")
        self.fills_by_signal.setdefault(signal, []).append(fill)
        self.requests.pop(order.client_order_id, None)
        if order.leg:
            self.legs_filled += 1
            return
        if request is None or strategy is None:
            return
        legs = legs_for_fill(request, fill, strategy, "paper", fill.position_quantity)
        if signal in self.legs_to_come:
            self.deferred.setdefault(signal, []).extend((leg, strategy) for leg in legs)
            return
        for leg in legs:
            self.legs_placed += 1
            self.place(leg, strategy, at)

    def place_legs(self, signal_id: str, at: datetime) -> None:
        """The recording's monitor placed the signal's legs now: so does the replay's
        (its own legs, from its own fills; none when it has none)."""
        self.legs_to_come.discard(signal_id)
        for leg, strategy in self.deferred.pop(signal_id, []):
            self.legs_placed += 1
            self.place(leg, strategy, at)

    def _tidy(self) -> None:
        """Release the reservations of orders that ended; forget closed orders as the
        paper broker moves them out of the account."""
        for coid in [c for c in self.ledger.pending if c in self.carried_out]:
            order = self.state.orders.get(coid)
            if order is None or order.status != "open":
                del self.ledger.pending[coid]
                self.carried_out.discard(coid)
        for old in orders_to_archive(self.state):
            del self.state.orders[old.client_order_id]
            self.carried.discard(old.client_order_id)
        if len(self.requests) > 64:
            self.requests = {c: r for c, r in self.requests.items()
                             if c in self.state.orders and
                             self.state.orders[c].status == "open"}

    # -- the portfolio breaker --------------------------------------------------------

    def check_breaker(self, config: BreakerConfig | None, at: datetime,
                      seen: Callable[[str], Seen | None]) -> bool:
        """One breaker check at ``at``, acted on as the breaker and executor would:
        cancel every open order, close every position, pause on a stop-loss."""
        if config is None:
            return False
        book = self.book()
        equity = book.equity()
        kind, self.breaker = decide(config, self.breaker, equity)
        if kind is None:
            return False
        liquidate = kind == "sl" or config.liquidate_on_tp
        held = list(book.positions.items())  # the book changes as they are closed
        if liquidate:
            for coid, order in list(self.state.orders.items()):
                if order.status == "open":
                    self._cancel(coid, f"{kind} breaker tripped")
            for symbol, position in held:
                close = liquidation(self.account_id, symbol, position.quantity, at)
                self.place(close, None, at, seen(close.client_order_id))
        if kind == "sl":
            self.paused = True
        self.trips.append({"at": at.isoformat(), "kind": kind, "equity": f"{equity:.2f}",
                           "liquidated": str(liquidate and bool(held)).lower()})
        self._tidy()
        return True
