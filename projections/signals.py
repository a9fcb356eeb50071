"""Signal history projection: one row per signal, a pure fold of its pipeline events.

A row says what happened to a signal without reading its trail: when it came in,
for which strategy, account and symbol, where it stands (``accepted`` while in the
pipeline, then ``executed`` or ``failed`` with the stage and reason), how long it
took from receipt to its terminal event, and the order and fill it produced.

Each row remembers ``seq`` (store position of its first event: a tie-break for the
newest-first order) and ``pos`` (store position of the event that last changed it:
the live stream's resumption point). Both come from the event store, so a replay
builds exactly the rows the live projector kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal

import msgspec

from contracts.events import (
    AccountOpened,
    AccountResumed,
    AccountUpdated,
    AnyEvent,
    BreakerTripped,
    LegFilled,
    OrderPlaced,
    OrderRequested,
    TradeExecuted,
    WebhookFailed,
    WebhookReceived,
    WebhookValidated,
)

STATUSES = ("accepted", "executed", "failed")
# Where an accepted signal is: the last stage it passed.
_BUY_INTENTS = frozenset({"enter_long", "exit_short", "buy"})
_SELL_INTENTS = frozenset({"enter_short", "exit_long", "sell"})


def _tag(cls: type[msgspec.Struct]) -> str:
    return str(cls.__struct_config__.tag)


class SignalRow(msgspec.Struct, kw_only=True):
    """One signal of the history, as the API answers it."""

    signal_id: str
    tenant_id: str
    strategy_id: str = ""
    account_id: str = ""
    symbol: str = ""
    side: str = ""
    intent: str = ""
    dialect: str = ""
    status: str = "accepted"
    stage: str = "received"
    code: str = ""
    reason: str = ""
    received_at: datetime
    terminal_at: datetime | None = None
    latency_ms: float | None = None
    order_id: str = ""
    client_order_id: str = ""
    order_type: str = ""
    quantity: Decimal | None = None  # what was ordered
    fill_price: Decimal | None = None
    fill_quantity: Decimal | None = None
    fills: int = 0
    dry_run: bool = False
    # For analytics: the alert's price (slippage of the fill against it), the P&L the
    # signal's fills realised (its protective legs' included), and which leg closed
    # the position it opened ("sl" / "tp"), if one did.
    alert_price: Decimal | None = None
    realised_pnl: Decimal | None = None
    exit_leg: str = ""
    seq: int
    pos: int

    @property
    def received_us(self) -> int:
        """Receipt time in microseconds since the epoch (the sort key)."""
        return to_us(self.received_at)

    def terms(self) -> set[str]:
        """What ``q`` finds this row by: its ids, order ids and failure code."""
        found = {self.signal_id, self.client_order_id, self.order_id, self.code}
        return {term.lower() for term in found if term}


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch (exact: no float rounding)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class AccountTouch(msgspec.Struct, kw_only=True):
    """The last store position at which an account's state changed (for the live stream)."""

    account_id: str
    tenant_id: str
    pos: int
    cause: str


# Event types that start or change a row, and those that change an account.
ROW_TYPES = frozenset(_tag(c) for c in (WebhookReceived, WebhookValidated, OrderRequested,
                                        OrderPlaced, TradeExecuted, WebhookFailed,
                                        LegFilled))
ACCOUNT_TYPES = frozenset(_tag(c) for c in (AccountOpened, AccountUpdated, AccountResumed,
                                            BreakerTripped, TradeExecuted, LegFilled))
TYPES = ROW_TYPES | ACCOUNT_TYPES

_row_encoder = msgspec.json.Encoder()
_row_decoder = msgspec.json.Decoder(SignalRow)

# Rows not in memory are asked for (the stored row, or None).
Loader = Callable[[Iterable[str]], dict[str, SignalRow]]


def encode_row(row: SignalRow) -> str:
    """The row as stored and answered (JSON)."""
    return _row_encoder.encode(row).decode()


def decode_row(body: str | bytes) -> SignalRow:
    """A stored row."""
    return _row_decoder.decode(body)


def _side_of(intent: str) -> str:
    if intent in _BUY_INTENTS:
        return "buy"
    if intent in _SELL_INTENTS:
        return "sell"
    return ""


def _symbol_in(payload: dict[str, object]) -> str:
    for key in ("symbol", "ticker"):
        value = payload.get(key)
        if isinstance(value, str):
            return value[:40]
    return ""


class SignalsProjection:
    """Folds events (with their store positions) into rows; remembers what changed."""

    def __init__(self, rows: dict[str, SignalRow] | None = None) -> None:
        self.rows: dict[str, SignalRow] = rows if rows is not None else {}
        self.accounts: dict[str, AccountTouch] = {}
        self.changed: set[str] = set()
        self.changed_accounts: set[str] = set()

    def wanted(self, events: Iterable[AnyEvent]) -> set[str]:
        """Signal ids among ``events`` whose rows are not in memory (to load first)."""
        return {e.signal_id for e in events
                if _tag(type(e)) in ROW_TYPES and e.signal_id not in self.rows}

    def apply(self, position: int, event: AnyEvent) -> None:
        """Apply one event stored at ``position`` (other types are ignored)."""
        kind = _tag(type(event))
        if kind in ACCOUNT_TYPES:
            self._touch_account(position, event, kind)
        if kind in ROW_TYPES:
            self._apply_row(position, event)

    def _touch_account(self, position: int, event: AnyEvent, kind: str) -> None:
        account_id = getattr(event, "account_id", "")
        if not account_id:
            return
        self.accounts[account_id] = AccountTouch(account_id=account_id,
                                                 tenant_id=event.tenant_id, pos=position,
                                                 cause=kind)
        self.changed_accounts.add(account_id)

    def _row(self, position: int, event: AnyEvent) -> SignalRow | None:
        row = self.rows.get(event.signal_id)
        if row is not None:
            return row
        # A leg's events carry its entry's signal id: they never start a row.
        if isinstance(event, LegFilled) or (
                isinstance(event, OrderRequested | OrderPlaced) and event.order.leg):
            return None
        row = SignalRow(signal_id=event.signal_id, tenant_id=event.tenant_id,
                        received_at=event.occurred_at, seq=position, pos=position)
        self.rows[event.signal_id] = row
        return row

    def _apply_row(self, position: int, event: AnyEvent) -> None:
        row = self._row(position, event)
        if row is not None and isinstance(event, LegFilled):
            # A leg fills after its entry ended: only what it realised is added.
            row.exit_leg = row.exit_leg or event.leg
            row.realised_pnl = (row.realised_pnl or Decimal(0)) + event.fill.realised_pnl
            row.pos = position
            self.changed.add(row.signal_id)
            return
        if row is None or (row.status != "accepted" and not isinstance(event, WebhookReceived)):
            return  # a terminal row is final (a late leg event says nothing about it)
        match event:
            case WebhookReceived():
                row.strategy_id, row.account_id = event.strategy_id, event.account_id
                row.dialect = event.dialect
                row.symbol = row.symbol or _symbol_in(event.payload)
                row.dry_run = row.dry_run or bool(event.dry_run)
            case WebhookValidated():
                signal = event.signal
                row.strategy_id, row.account_id = event.strategy_id, event.account_id
                row.symbol, row.intent = signal.symbol, signal.intent
                row.side = row.side or _side_of(signal.intent)
                row.alert_price = signal.price
                row.stage = "validated"
            case OrderRequested():
                if event.order.leg:
                    return
                order = event.order
                row.strategy_id = row.strategy_id or event.strategy_id
                row.account_id = row.account_id or event.account_id
                row.symbol, row.side = row.symbol or order.symbol, order.side
                row.intent = row.intent or order.intent
                row.client_order_id, row.order_type = order.client_order_id, order.order_type
                row.quantity = order.quantity
                row.stage = "ordered"
            case OrderPlaced():
                if event.order.leg:
                    return
                row.order_id = event.order.order_id
                row.stage = "order_open"
            case TradeExecuted():
                self._executed(row, event)
            case WebhookFailed():
                row.strategy_id = row.strategy_id or event.strategy_id
                row.account_id = row.account_id or event.account_id
                row.status, row.stage = "failed", event.stage
                row.code, row.reason = event.code, event.reason
                self._ended(row, event.occurred_at)
        row.pos = position
        self.changed.add(row.signal_id)

    def _executed(self, row: SignalRow, event: TradeExecuted) -> None:
        fills = event.all_fills()
        row.status, row.stage = "executed", "executed"
        row.fills = len(fills)
        row.dry_run = row.dry_run or bool(event.dry_run)
        if event.request is not None and not row.client_order_id:
            row.client_order_id = event.request.client_order_id
            row.quantity = event.request.quantity
        if fills:
            row.order_id = fills[0].order_id if len(fills) == 1 else row.order_id
            row.realised_pnl = (row.realised_pnl or Decimal(0)) + sum(
                (f.realised_pnl for f in fills), Decimal(0))
            total = sum((f.quantity for f in fills), Decimal(0))
            row.fill_quantity = total
            if len({f.symbol for f in fills}) == 1 and total:
                # Quantity-weighted average of one symbol's fills.
                row.fill_price = sum((f.quantity * f.average_price for f in fills),
                                     Decimal(0)) / total
        self._ended(row, event.occurred_at)

    @staticmethod
    def _ended(row: SignalRow, at: datetime) -> None:
        row.terminal_at = at
        row.latency_ms = round((to_us(at) - row.received_us) / 1000, 3)

    def take_changed(self) -> tuple[dict[str, SignalRow], dict[str, AccountTouch]]:
        """Rows and account touches changed since the last call."""
        rows = {k: self.rows[k] for k in self.changed}
        accounts = {k: self.accounts[k] for k in self.changed_accounts}
        self.changed, self.changed_accounts = set(), set()
        return rows, accounts
