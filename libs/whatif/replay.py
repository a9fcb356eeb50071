"""What-if replay: an account's recorded signals decided again with other settings.

Offline and deterministic: nothing is published and no broker is called. The store
is read in order and each recorded ``webhook.validated`` of the account (and
strategy, and period) goes through the live pipeline's own decisions again
(:mod:`libs.whatif.offline`): risk's gate, sizing and limits, the paper broker,
the SL/TP monitor's legs, trailing stops, OCO, sweeps and the portfolio breaker,
with the settings the registry events had at that moment, changed by ``changes``.

**Prices.** The store holds no price ticks (they are inputs on their own stream, not
audited), so the replay knows the market from what the store does hold:

- alert prices: the executor takes a market order's alert price as a market
  observation before placing it; so does the replay, for the orders it places, and
  for every other account's recorded market orders (the market is shared);
- the recording's own fills: an order the replay places with the same client order
  id and terms as a recorded one (a market order, a leg, a liquidation) meets the
  market that one met — it fills when and at the price the recorded one filled, with
  its fee rate; and each recorded fill that the market priced (a resting order, a
  price-less alert, a liquidation) is also a market observation: its price, less the
  account's slippage for stops and market orders, moves the replay's other orders
  (a tighter stop the recording never had, a trailing stop).

What the store cannot tell: a tick that filled nothing of this account and no
other account's alert (a stop placed differently may have been crossed by it), and
how far a trailing stop was moved by such ticks.

**Timing.** A signal is decided when the recording's risk answered it (at its
``order.placed`` or terminal event), so fills arrive as they did. The breaker is
checked every ``breaker_interval_s`` of recorded time (the live default: 10 s) on
the grid of the recording's own trips, and at each recorded trip once its
liquidation fills are in (so an unchanged breaker trips where it tripped).

The report is the side-by-side of the recording and the replay over the period:
orders, fills, legs, breaker trips, refusals, P&L, fees, equity, maximum drawdown
(equity marked at the same market prices on both sides), and each signal whose
fills (legs included) differ.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

from contracts.events import (
    AccountOpened,
    AccountResumed,
    AccountUpdated,
    AnyEvent,
    BreakerTripped,
    LegCanceled,
    LegFilled,
    OrderPlaced,
    OrderRequested,
    RegistryChange,
    StrategyRegistered,
    StrategySecretRotated,
    StrategyUpdated,
    TenantCreated,
    TenantUpdated,
    TradeExecuted,
    WebhookFailed,
    WebhookValidated,
    event_type,
)
from contracts.orders import Fill, OrderRequest
from domain.ledger import ZERO, Book, marked
from libs.brokers.paper import BPS, PRICE_QUANTUM
from libs.registry.models import Account, Strategy, Tenant
from libs.whatif.changes import Changes
from libs.whatif.offline import Costs, OfflineAccount, Seen
from projections import timeline
from projections.store import EventStore
from services.sltp_monitor.breaker import BreakerState, fingerprint

TRIPS = frozenset({"account.breaker_tripped"})
REQUESTS = frozenset({"order.requested"})
TYPES = frozenset({
    "registry.account_opened", "registry.account_updated", "account.resumed",
    "account.breaker_tripped", "registry.tenant_created", "registry.tenant_updated",
    "registry.strategy_registered", "registry.strategy_updated",
    "registry.strategy_secret_rotated", "webhook.validated", "order.requested",
    "order.placed", "order.leg_filled", "order.leg_canceled", "order.leg_resized",
    "webhook.trade_executed", "webhook.failed"})
# Reads the store in order, only the given event types (all of them when empty).
Source = Callable[[frozenset[str]], Iterable[AnyEvent]]


@dataclass
class Side:
    """One column of the side-by-side: recorded or replayed."""

    orders: int = 0
    fills: int = 0
    legs_placed: int = 0
    legs_filled: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    resting: int = 0
    trips: list[dict[str, str]] = field(default_factory=list)
    book: Book = field(default_factory=Book)
    peak: Decimal = ZERO
    max_drawdown: Decimal = ZERO

    def mark(self, equity: Decimal) -> None:
        """Track the deepest fall of equity from its peak."""
        self.peak = max(self.peak, equity)
        self.max_drawdown = max(self.max_drawdown, self.peak - equity)

    def summary(self) -> dict[str, Any]:
        """The figures of this side."""
        return {"orders": self.orders, "fills": self.fills, "legs_placed": self.legs_placed,
                "legs_filled": self.legs_filled, "breaker_trips": len(self.trips),
                "refused": sum(self.refused.values()), "refused_by": dict(self.refused),
                "rejected": self.rejected, "resting": self.resting,
                "realised_pnl": _num(self.book.realised_pnl),
                "fees": _num(self.book.fees_paid), "cash": _num(self.book.cash),
                "equity": _num(self.book.equity()), "max_drawdown": _num(self.max_drawdown),
                "positions": {s: _num(p.quantity) for s, p in sorted(self.book.positions.items())},
                "trips": list(self.trips)}


@dataclass
class WhatIf:
    """The side-by-side of a replay."""

    signals: int
    recorded: Side
    replayed: Side
    changed: list[dict[str, Any]]  # signals whose fills (legs included) differ
    changes: dict[str, Any] = field(default_factory=dict)
    prices: dict[str, int] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {"signals": self.signals, "changes": self.changes,
                "recorded": self.recorded.summary(), "replayed": self.replayed.summary(),
                "changed": self.changed, "prices": self.prices}


def from_store(store: EventStore, page: int = 5000) -> Source:
    """A :data:`Source` reading ``store`` a page at a time (constant memory)."""
    def read(types: frozenset[str]) -> Iterator[AnyEvent]:
        position = 0
        while (found := store.read_page(position, page, types or None)).notifications:
            yield from found.events
            position = found.position
    return read


def from_list(events: list[AnyEvent]) -> Source:
    """A :data:`Source` over events held in memory (tests, benches)."""
    def read(types: frozenset[str]) -> Iterable[AnyEvent]:
        return [e for e in events if not types or event_type(e) in types]
    return read


def replay(source: Source, account_id: str, changes: Mapping[str, Any] | Changes,
           strategy_id: str = "", since: datetime | None = None,
           until: datetime | None = None, costs: Costs | None = None,
           breaker_interval_s: float = 10.0) -> WhatIf:
    """Replay the account's recorded signals. Both sides start from the account as
    recorded when the period starts (its book and resting orders). ``costs``: the
    paper broker's defaults (an account's own slippage/fee settings win).

    Raises ValueError for a change that is no setting, pydantic's ValidationError for
    a value out of its range."""
    parsed = changes if isinstance(changes, Changes) else Changes.parse(changes)
    # One look ahead at the account's trips and the signals whose legs were placed.
    trips: list[datetime] = []
    legs: set[str] = set()
    for e in source(TRIPS | REQUESTS):
        if isinstance(e, BreakerTripped) and e.account_id == account_id:
            trips.append(e.occurred_at)
        elif isinstance(e, OrderRequested) and e.order.leg and e.account_id == account_id:
            legs.add(e.signal_id)
    trips.sort()
    run = _Run(account_id, parsed, strategy_id, since, until, costs or Costs(),
               breaker_interval_s, trips, legs)
    for position, event in enumerate(source(TYPES), 1):
        run.step(position, event)
    return run.finish()


def market_at_fill(order_type: str, side: str, price: Decimal, slippage_bps: Decimal) -> Decimal:
    """The market price a paper fill implies: a limit fills at the market (it crossed
    its limit); stops and market orders at the market moved by the slippage."""
    if order_type == "limit":
        return price
    factor = 1 + slippage_bps / BPS if side == "buy" else 1 - slippage_bps / BPS
    return (price / factor).quantize(PRICE_QUANTUM)


@dataclass
class _Trip:
    """A recorded trip waiting for its liquidation fills."""

    event: BreakerTripped
    waiting: set[str]
    seen: dict[str, Seen] = field(default_factory=dict)


class _Run:
    """One replay in progress (the loop's state)."""

    def __init__(self, account_id: str, changes: Changes, strategy_id: str,
                 since: datetime | None, until: datetime | None, costs: Costs,
                 interval_s: float, trips: list[datetime], legs: set[str]) -> None:
        self.account_id = account_id
        self.changes = changes
        self.strategy_id = strategy_id
        self.since, self.until = since, until
        self.default_costs = costs
        self.interval_s = interval_s
        self.recorded_trips = trips
        self.leg_signals = legs  # the signals the recording's monitor placed legs for
        self.strategies: dict[str, Strategy] = {}
        self.tenants: dict[str, Tenant] = {}
        self.record: dict[str, Any] = {}  # the account's registry record, as recorded
        self.account: Account | None = None  # ... changed
        self.recorded_costs = costs
        self.history = timeline.new_state(account_id, "")
        self.tripped_before: list[str] = []  # kinds tripped since the breaker was armed
        self.market: dict[str, Decimal] = {}
        self.offline: OfflineAccount | None = None
        self.recorded = Side()
        self.start_fills = 0
        self.signals = 0
        # Signals the recording's risk has not answered yet, and signals it answered
        # with an order its executor has not carried out yet (the replay's decision
        # and order): each is taken where the recording took it.
        self.awaiting_risk: dict[str, WebhookValidated] = {}
        self.awaiting_executor: dict[str, tuple[WebhookValidated, OrderRequest,
                                                Strategy]] = {}
        self.requests: dict[str, OrderRequest] = {}  # the recording's, by client order id
        self.recorded_fills: dict[str, list[Fill]] = {}
        self.trip: _Trip | None = None
        # Liquidations whose trip event is not stored yet: the breaker publishes its
        # liquidation orders before the trip, so a quick executor's answer (fills, or
        # a rejection) can be stored first; the trip takes them when it comes.
        self.liquidations: set[str] = set()
        self.early: dict[str, list[Seen]] = {}
        self.next_check: float | None = None
        self.prices = {"alert": 0, "implied": 0}
        self.order_of_signals: list[str] = []  # the signals replayed, in order
        self.refusals: dict[str, str] = {}  # signal → the replay's refusal code
        self.replayed_peak = self.replayed_drawdown = ZERO
        # The breaker acts on the whole account: with a strategy's signals alone there
        # is no account to trip on.
        self.breaker_on = not strategy_id

    # -- the loop ---------------------------------------------------------------------

    def step(self, position: int, event: AnyEvent) -> None:
        """Take one stored event."""
        if self.until is not None and event.occurred_at >= self.until:
            return
        before = self.since is not None and event.occurred_at < self.since
        if isinstance(event, RegistryChange):
            self._registry(event, before)
        if isinstance(event, OrderRequested) and event.account_id != self.account_id:
            self._alert_price(event.order, event.occurred_at)
            return
        if getattr(event, "account_id", "") != self.account_id or \
                getattr(event, "dry_run", False):
            return
        if self._ours(event) and timeline.account_of(event) == self.account_id:
            timeline.apply(self.history, event, position)
        if isinstance(event, BreakerTripped) and before:
            self.tripped_before.append(event.kind)
        if before or not self._ours(event) or \
                (isinstance(event, BreakerTripped) and not self.breaker_on):
            return
        offline = self.offline or self._begin()
        self._due_checks(event.occurred_at)
        match event:
            case WebhookValidated():
                self.signals += 1
                self.awaiting_risk[event.signal_id] = event
            case OrderRequested():
                self._requested(event)
            case OrderPlaced() if not event.order.leg:
                self._executed(event.signal_id, [])
            case TradeExecuted() | WebhookFailed():
                self._ended(event)
            case LegFilled():
                self.recorded.legs_filled += 1
                self.recorded_fills.setdefault(event.signal_id, []).append(event.fill)
                self._resting_fill(event.fill, event.order.order_type, event.occurred_at)
            case LegCanceled():
                self.requests.pop(event.order.client_order_id, None)
            case BreakerTripped():
                self.recorded.trips.append(_trip_row(event))
                self.trip = _Trip(event, {f"{event.signal_id}:{s}" for s in event.liquidating})
                for signal in self.trip.waiting & self.early.keys():
                    self.trip.seen.update((s.fill.client_order_id, s)
                                          for s in self.early.pop(signal))
                    self.trip.waiting.discard(signal)
                if not self.trip.waiting:
                    self._recorded_trip()
            case _:
                pass
        self._mark(offline)

    def finish(self) -> WhatIf:
        """Decide what is still pending and build the report."""
        offline = self.offline or self._begin()
        if self.trip is not None:
            self._recorded_trip()
        for signal in list(self.awaiting_risk):
            self._decide(signal)
        for signal in list(self.awaiting_executor):
            self._execute(signal, {})
        self._mark(offline)
        replayed = Side(orders=offline.orders, legs_placed=offline.legs_placed,
                        legs_filled=offline.legs_filled, refused=dict(offline.refused),
                        rejected=offline.rejected_signals,
                        resting=offline.resting(), trips=offline.trips,
                        book=offline.book(), peak=self.replayed_peak,
                        max_drawdown=self.replayed_drawdown)
        replayed.fills = offline.state.book.fills - self.start_fills
        self.recorded.book = marked(self.history.view.book, self.market)
        self.recorded.fills = self.history.view.book.fills - self.start_fills
        self.recorded.resting = sum(1 for o in self.history.open_orders.values()
                                    if o.status == "open")
        changed = []
        for signal in self.order_of_signals:
            was = [_fill_row(f) for f in self.recorded_fills.get(signal, [])]
            now = [_fill_row(f) for f in offline.fills_by_signal.get(signal, [])]
            if was != now:
                changed.append({"signal_id": signal, "recorded": was, "replayed": now,
                                "refused": self.refusals.get(signal, "")})
        return WhatIf(self.signals, self.recorded, replayed, changed,
                      self.changes.as_dict(), dict(self.prices))

    # -- pieces -----------------------------------------------------------------------

    def _ours(self, event: AnyEvent) -> bool:
        """In the strategy's scope (every event of the account when no strategy)."""
        return not self.strategy_id or getattr(event, "strategy_id", self.strategy_id) \
            == self.strategy_id

    def _begin(self) -> OfflineAccount:
        """Both sides start from the account as recorded when the period starts."""
        book = msgspec.convert(msgspec.to_builtins(self.history.view.book), Book)
        paused = bool(self.history.settings.get("paused", False))
        self.offline = OfflineAccount(self.account_id, book, dict(self.history.open_orders),
                                      self.market, self._costs(self.account), paused)
        if self.account is not None and self.account.breaker is not None and self.record:
            recorded = Changes().account_of(self.record).breaker
            if recorded is not None:  # what the recording's breaker had tripped already
                self.offline.breaker = BreakerState(fingerprint=fingerprint(recorded),
                                                    tripped=list(self.tripped_before))
        self.offline.legs_to_come = set(self.leg_signals)
        self.start_fills = book.fills
        equity = self.offline.book().equity()
        self.recorded.peak = self.replayed_peak = equity
        self.replayed_drawdown = ZERO
        return self.offline

    def _costs(self, account: Account | None) -> Costs:
        if account is None:
            return self.default_costs
        return Costs(
            account.slippage_bps if account.slippage_bps is not None
            else self.default_costs.slippage_bps,
            account.fee_bps if account.fee_bps is not None else self.default_costs.fee_bps)

    def _registry(self, event: RegistryChange, before: bool) -> None:
        """Settings as the registry events had them, changed."""
        record = event.record
        if not record and isinstance(event, AccountOpened):  # written without its record
            record = {"id": event.account_id, "tenant_id": event.tenant_id,
                      "name": event.name, "broker": event.broker, "currency": event.currency,
                      "starting_cash": str(event.starting_cash)}
        if not record:
            return
        if isinstance(event, StrategyRegistered | StrategyUpdated | StrategySecretRotated):
            self.strategies[event.strategy_id] = self.changes.strategy_of(record)
        elif isinstance(event, TenantCreated | TenantUpdated):
            self.tenants[event.tenant_id] = Tenant.model_validate(record)
        elif isinstance(event, AccountOpened | AccountUpdated | AccountResumed) and \
                event.account_id == self.account_id:
            old = self.account.breaker if self.account is not None else None
            self.record = record
            self.account = self.changes.account_of(record)
            self.recorded_costs = self._costs(Changes().account_of(record))
            if self.account.breaker != old:
                self.tripped_before = []
            if self.offline is not None and not before:
                self.offline.costs = self._costs(self.account)
                if isinstance(event, AccountResumed):
                    self.offline.paused = False
                elif isinstance(event, AccountUpdated) and "paused" in event.changes:
                    self.offline.paused = bool(event.changes["paused"])  # an operator

    def _alert_price(self, order: OrderRequest, at: datetime) -> None:
        """Another account's market order: its alert price is the market's then."""
        if order.order_type != "market" or not order.reference_price:
            return
        self.prices["alert"] += 1
        if self.offline is not None and (self.since is None or at >= self.since):
            self.offline.observe(order.symbol, order.reference_price, at)
        else:
            self.market[order.symbol] = order.reference_price

    def _requested(self, event: OrderRequested) -> None:
        self.requests[event.order.client_order_id] = event.order
        if event.order.leg:
            self.recorded.legs_placed += 1
            assert self.offline is not None
            self.offline.place_legs(event.signal_id, event.occurred_at)
        elif event.strategy_id:  # a signal's order, not a breaker liquidation
            self.recorded.orders += 1
            if event.signal_id in self.awaiting_risk:  # the recording's risk answered
                self._decide(event.signal_id)
        else:
            self.liquidations.add(event.signal_id)

    def _ended(self, event: TradeExecuted | WebhookFailed) -> None:
        """A terminal event: the recording's answer to a signal (risk's refusal, or what
        its executor did), to a resting order, or to a liquidation."""
        signal = event.signal_id
        if isinstance(event, WebhookFailed):
            if event.stage == "risk":
                self.recorded.refused[event.code] = self.recorded.refused.get(event.code, 0) + 1
                if signal in self.awaiting_risk:  # refused: the replay may still order
                    self._decide(signal)
                    self._execute(signal, {})
                return
            if event.stage == "execute":
                if signal in self.awaiting_risk or signal in self.awaiting_executor:
                    self.recorded.rejected += 1
                self.requests.pop(str(event.details.get("client_order_id", "")), None)
        fills = event.all_fills() if isinstance(event, TradeExecuted) else []
        for fill in fills:
            self.recorded_fills.setdefault(signal, []).append(fill)
        if signal in self.liquidations:
            self.liquidations.discard(signal)
            seen = [Seen(self.requests.pop(f.client_order_id, None), f) for f in fills]
            if self.trip is None or signal not in self.trip.waiting:
                self.early[signal] = seen  # stored before its trip
                return
            self.trip.seen.update((s.fill.client_order_id, s) for s in seen)
            self.trip.waiting.discard(signal)
            if not self.trip.waiting:
                self._recorded_trip()
            return
        if signal in self.awaiting_risk or signal in self.awaiting_executor:
            asked = event.request if isinstance(event, TradeExecuted) else None
            self._executed(signal, fills, asked)
            return
        request = event.request if isinstance(event, TradeExecuted) else None
        for fill in fills:  # a resting order the market filled
            self._resting_fill(fill, request.order_type if request else "market",
                               event.occurred_at)

    def _executed(self, signal: str, fills: list[Fill],
                  asked: OrderRequest | None = None) -> None:
        """The recording's executor carried out the signal's order (``fills``: what
        the market gave it at once): the replay carries out its own."""
        if signal in self.awaiting_risk:  # no order.requested stored: decided now
            self._decide(signal)
        if signal not in self.awaiting_executor:
            return
        seen = {f.client_order_id: Seen(self.requests.get(f.client_order_id) or (
            asked if asked and asked.client_order_id == f.client_order_id else None), f)
            for f in fills}
        for fill in fills:  # a price-less alert's fill: the market's price then
            self._implied(fill, seen[fill.client_order_id].request)
        self._execute(signal, seen)
        for coid in seen:
            self.requests.pop(coid, None)

    def _decide(self, signal: str) -> None:
        """Risk decides the signal again, where the recording's risk answered it."""
        event = self.awaiting_risk.pop(signal)
        offline = self.offline
        strategy = self.strategies.get(event.strategy_id)
        assert offline is not None
        if strategy is None:
            return  # its registration is not in the store: nothing to decide with
        if self.account is None:  # opened before the store: the defaults
            self.account = self.changes.account_of({"id": self.account_id,
                                                    "tenant_id": event.tenant_id,
                                                    "name": self.account_id})
        self.order_of_signals.append(event.signal_id)
        decided = offline.decide(event, strategy, self.account,
                                 self.tenants.get(event.tenant_id))
        if isinstance(decided, OrderRequest):
            self.awaiting_executor[signal] = (event, decided, strategy)
        else:
            self.refusals[event.signal_id] = decided.code

    def _execute(self, signal: str, seen: Mapping[str, Seen]) -> None:
        """The executor carries out the replay's order of the signal (if it has one)."""
        found = self.awaiting_executor.pop(signal, None)
        if found is None:
            return
        event, order, strategy = found
        assert self.offline is not None
        self.offline.carry_out(signal, order, strategy, event.occurred_at, seen.get)

    def _resting_fill(self, fill: Fill, order_type: str, at: datetime) -> None:
        """The market filled a resting order of the recording: the replay's same
        order fills with it; the price it implies moves the replay's other orders."""
        request = self.requests.pop(fill.client_order_id, None)
        assert self.offline is not None
        self.offline.met_as_recorded(Seen(request, fill), at)
        self._implied(fill, request, order_type)

    def _implied(self, fill: Fill, request: OrderRequest | None,
                 order_type: str | None = None) -> None:
        """Observe the market price a recorded fill implies, unless an alert's price
        made it (the replay observes those where it places the order)."""
        if request is not None and request.order_type == "market" and request.reference_price:
            return
        kind = order_type or (request.order_type if request else "market")
        price = market_at_fill(kind, fill.side, fill.average_price,
                               self.recorded_costs.slippage_bps)
        self.prices["implied"] += 1
        assert self.offline is not None
        self.offline.observe(fill.symbol, price, fill.filled_at)

    def _recorded_trip(self) -> None:
        """Check the breaker where the recording's tripped, at the prices its
        liquidation met."""
        trip, self.trip = self.trip, None
        assert trip is not None and self.offline is not None
        for seen in trip.seen.values():
            self._implied(seen.fill, seen.request)
        at = trip.event.occurred_at
        if self.account is not None and self.account.active:
            self.offline.check_breaker(self.account.breaker, at, trip.seen.get)
        self.next_check = self._boundary_after(at.timestamp())

    def _due_checks(self, now: datetime) -> None:
        """The breaker's timer: one check at the last boundary passed (equity does not
        move between stored events)."""
        if self.interval_s <= 0 or not self.breaker_on or self.trip is not None or \
                self.account is None or \
                self.account.breaker is None or not self.account.active:
            return
        t = now.timestamp()
        if self.next_check is None:
            self.next_check = self._boundary_after(t)
            return
        if t < self.next_check:
            return
        last = self._boundary_after(t) - self.interval_s
        if last >= self.next_check and not self._recorded_at(last):
            assert self.offline is not None
            at = datetime.fromtimestamp(last, UTC)
            self.offline.check_breaker(self.account.breaker, at, lambda _: None)
        self.next_check = self._boundary_after(t)

    def _recorded_at(self, t: float) -> bool:
        return any(abs(trip.timestamp() - t) < 0.001 for trip in self.recorded_trips)

    def _boundary_after(self, t: float) -> float:
        """The next check after ``t`` on the recording's grid (its nearest trip, else
        whole multiples of the interval); never with no timer (an interval of 0)."""
        if self.interval_s <= 0:
            return math.inf
        later = [x for x in self.recorded_trips if x.timestamp() >= t]
        anchor = (later[0] if later else self.recorded_trips[-1]).timestamp() \
            if self.recorded_trips else 0.0
        steps = math.floor((t - anchor) / self.interval_s) + 1
        return anchor + steps * self.interval_s

    def _mark(self, offline: OfflineAccount) -> None:
        equity = offline.book().equity()
        self.replayed_peak = max(self.replayed_peak, equity)
        self.replayed_drawdown = max(self.replayed_drawdown, self.replayed_peak - equity)
        self.recorded.mark(marked(self.history.view.book, self.market).equity())


def _trip_row(event: BreakerTripped) -> dict[str, str]:
    return {"at": event.occurred_at.isoformat(), "kind": event.kind,
            "equity": f"{event.equity:.2f}", "liquidated": str(bool(event.liquidating)).lower()}


def _fill_row(fill: Fill) -> dict[str, str]:
    return {"client_order_id": fill.client_order_id, "side": fill.side,
            "quantity": _num(fill.quantity), "price": _num(fill.average_price)}


def _num(value: Decimal) -> str:
    """A decimal without trailing zeros (100.050000 and 100.05 are one price)."""
    return f"{value.normalize():f}" if value else "0"
