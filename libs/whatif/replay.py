"""What-if replay: an account's recorded signals decided again with other settings.

Offline and deterministic: nothing is published and no broker is called. Each
recorded ``webhook.validated`` of the account (and strategy, and period), in store
order, is decided by risk's own read-only decision (:func:`would_order`: sizing,
exits, limits) against the replayed book and a replayed ledger, with the strategy's
settings as its registry events had them at that moment, changed by ``overrides``.
An order fills at the price the recorded order filled at (the market of that moment,
slippage included) with the recorded fee scaled to the quantity; a signal whose order
did not fill then fills at its alert price when it is a market order, else rests.

Scope (v0): protective legs, trailing stops, the portfolio breaker, account pauses and
price ticks are not replayed; the report counts the legs the recording filled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from contracts.events import (
    AccountOpened,
    AnyEvent,
    LegFilled,
    StrategyRegistered,
    StrategySecretRotated,
    StrategyUpdated,
    TradeExecuted,
    WebhookValidated,
)
from contracts.orders import Fill, OrderRequest
from domain.ledger import ZERO, Book, apply_fill
from libs.brokers.base import AccountSnapshot
from libs.registry.models import Strategy
from services.risk.dry_run import would_order
from services.risk.ledger import RiskLedger
from services.risk.rules import RiskRefusal, client_order_id

TYPES = frozenset({"registry.account_opened", "webhook.validated", "webhook.trade_executed",
                   "order.leg_filled", "registry.strategy_registered", "registry.strategy_updated",
                   "registry.strategy_secret_rotated"})


@dataclass
class Side:
    """One column of the side-by-side: recorded or replayed."""

    book: Book
    orders: int = 0
    fills: list[Fill] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    resting: int = 0
    peak: Decimal = ZERO
    max_drawdown: Decimal = ZERO

    def fill(self, fill: Fill) -> None:
        """Apply a fill; track the deepest fall of equity from its peak."""
        apply_fill(self.book, fill.symbol, fill.side, fill.quantity, fill.average_price,
                   fill.fee)
        self.fills.append(fill)
        equity = self.book.equity()
        self.peak = max(self.peak, equity)
        self.max_drawdown = max(self.max_drawdown, self.peak - equity)

    def summary(self) -> dict[str, Any]:
        """The figures of this side."""
        return {"orders": self.orders, "fills": len(self.fills),
                "refused": sum(self.refused.values()), "refused_by": dict(self.refused),
                "resting": self.resting,
                "realised_pnl": str(self.book.realised_pnl),
                "fees": str(self.book.fees_paid), "cash": str(self.book.cash),
                "equity": str(self.book.equity()), "max_drawdown": str(self.max_drawdown),
                "positions": {s: str(p.quantity) for s, p in sorted(self.book.positions.items())}}


@dataclass
class WhatIf:
    """The side-by-side of a replay."""

    signals: int
    recorded: Side
    replayed: Side
    legs_not_replayed: int
    changed: list[dict[str, Any]]  # signals whose outcome differs

    def report(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {"signals": self.signals, "recorded": self.recorded.summary(),
                "replayed": self.replayed.summary(),
                "legs_not_replayed": self.legs_not_replayed, "changed": self.changed}


class _Clock:
    def __init__(self) -> None:
        self.at = datetime.min

    def now(self) -> datetime:
        return self.at


def replay(events: Iterable[AnyEvent], account_id: str, overrides: Mapping[str, Any],
           strategy_id: str = "", since: datetime | None = None,
           until: datetime | None = None) -> WhatIf:
    """Replay the account's recorded signals (``events``: the store in order, of
    :data:`TYPES` at least). Both sides start from the account as recorded when the
    period starts (its opening cash and every fill before)."""
    start = Book()
    steps: list[AnyEvent] = []
    fills: dict[str, TradeExecuted] = {}
    for event in events:
        if isinstance(event, StrategyRegistered | StrategyUpdated | StrategySecretRotated):
            if event.record:
                steps.append(event)  # settings change in store order
            continue
        if getattr(event, "account_id", "") != account_id:
            continue
        before = since is not None and event.occurred_at < since
        if isinstance(event, AccountOpened) and not start.fills:
            start.cash, start.currency = event.starting_cash, event.currency
        elif before and isinstance(event, TradeExecuted | LegFilled):
            for fill in _fills(event):
                apply_fill(start, fill.symbol, fill.side, fill.quantity, fill.average_price,
                           fill.fee)
        elif (until is not None and event.occurred_at >= until) or \
                (strategy_id and getattr(event, "strategy_id", "") != strategy_id):
            continue
        elif isinstance(event, WebhookValidated) and not event.dry_run and not before:
            steps.append(event)
        elif isinstance(event, TradeExecuted) and not event.dry_run and not before:
            fills[event.signal_id] = event
        elif isinstance(event, LegFilled) and not before:
            steps.append(event)
    return _decide_all(steps, fills, start, overrides)


def _fills(event: TradeExecuted | LegFilled) -> list[Fill]:
    return event.all_fills() if isinstance(event, TradeExecuted) else [event.fill]


def _decide_all(steps: list[AnyEvent], recorded_fills: dict[str, TradeExecuted], start: Book,
                overrides: Mapping[str, Any]) -> WhatIf:
    recorded = Side(book=_copy(start), peak=start.equity())
    replayed = Side(book=_copy(start), peak=start.equity())
    settings: dict[str, Strategy] = {}
    ledger = RiskLedger()
    clock = _Clock()
    changed: list[dict[str, Any]] = []
    signals = legs = 0
    for event in steps:
        if isinstance(event, StrategyRegistered | StrategyUpdated | StrategySecretRotated):
            settings[event.strategy_id] = Strategy.model_validate({**event.record, **overrides})
            continue
        if isinstance(event, LegFilled):  # the recording's leg; legs are not replayed
            recorded.fill(event.fill)
            legs += 1
            continue
        if not isinstance(event, WebhookValidated):
            continue
        strategy = settings.get(event.strategy_id)
        if strategy is None:
            continue  # its registration is not in the store: nothing to decide with
        signals += 1
        executed = recorded_fills.get(event.signal_id)
        was = executed.all_fills() if executed else []
        for fill in was:
            recorded.fill(fill)
        recorded.orders += 1 if executed else 0
        clock.at = event.occurred_at
        received_at = event.signal.alert_time or event.occurred_at
        coid = client_order_id(strategy, event.signal_id, received_at)
        decided = would_order(event, strategy, _snapshot(replayed.book), ledger, coid, clock)
        now = _outcome(decided, event, was, replayed, ledger)
        if now != [(f.side, f.quantity, f.average_price) for f in was]:
            changed.append({"signal_id": event.signal_id,
                            "recorded": [_leg(f.side, f.quantity, f.average_price)
                                         for f in was],
                            "replayed": [_leg(*t) for t in now],
                            "refused": decided.code if isinstance(decided, RiskRefusal)
                            else ""})
    return WhatIf(signals, recorded, replayed, legs, changed)


def _outcome(decided: OrderRequest | RiskRefusal, event: WebhookValidated, was: list[Fill],
             side: Side, ledger: RiskLedger) -> list[tuple[str, Decimal, Decimal]]:
    if isinstance(decided, RiskRefusal):
        side.refused[decided.code] = side.refused.get(decided.code, 0) + 1
        return []
    side.orders += 1
    price = was[0].average_price if was else event.signal.price
    if price is None or (not was and decided.order_type != "market"):
        side.resting += 1
        return []
    held = side.book.position_quantity(decided.symbol)
    quantity = abs(held) if decided.close_position else decided.quantity
    if quantity == 0:
        return []
    order_side = decided.side
    recorded_qty = sum((f.quantity for f in was), ZERO)
    fee = (sum((f.fee for f in was), ZERO) * quantity / recorded_qty) if recorded_qty else ZERO
    ledger.count(quantity * price)
    side.fill(Fill(order_id=f"whatif-{event.signal_id}", client_order_id=decided.client_order_id,
                   symbol=decided.symbol, side=order_side, quantity=quantity,
                   average_price=price, fee=fee, filled_at=event.occurred_at))
    return [(order_side, quantity, price)]


def _leg(side: str, quantity: Decimal, price: Decimal) -> dict[str, str]:
    return {"side": side, "quantity": str(quantity), "price": str(price)}


def _snapshot(book: Book) -> AccountSnapshot:
    return AccountSnapshot(cash=book.cash, equity=book.equity(),
                           positions={s: p.quantity for s, p in book.positions.items()},
                           last_prices=dict(book.last_prices))


def _copy(book: Book) -> Book:
    return msgspec.convert(msgspec.to_builtins(book), Book)
