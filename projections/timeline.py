"""An account as it was after any stored event: a pure fold, with snapshots.

:class:`AccountAt` is everything ``GET /api/v1/accounts/{id}?as_of=`` and
``tradehooks account-at`` show: the book (cash, positions, realised P&L — folded by
the account projection's own code, so the past and the present agree to the last
decimal), the orders resting at the broker, and the account's settings (its registry
record, secrets masked). The timeline projector saves it every :data:`SNAPSHOT_EVERY`
events of the account, so an answer folds at most that many events.
"""

from __future__ import annotations

from datetime import UTC, datetime
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
    LegResized,
    OrderPartiallyFilled,
    OrderPlaced,
    StrategyRegistered,
    StrategySecretRotated,
    StrategyUpdated,
    TradeExecuted,
    WebhookFailed,
    event_type,
)
from contracts.orders import BrokerOrder
from projections.accounts import AccountsProjection, AccountView, view_to_api

SNAPSHOT_EVERY = 250
MASK = "********"

_CLASSES = (AccountOpened, AccountUpdated, AccountResumed, BreakerTripped, TradeExecuted,
            LegFilled, LegCanceled, LegResized, OrderPlaced, OrderPartiallyFilled,
            WebhookFailed)
_STRATEGY_CLASSES = (StrategyRegistered, StrategyUpdated, StrategySecretRotated)
# The event types that change an account's state or a strategy's settings (replay
# decodes no others).
TYPES = frozenset(str(cls.__struct_config__.tag) for cls in (*_CLASSES, *_STRATEGY_CLASSES))
# Strategies share the index with accounts under this prefix (ids cannot hold a colon).
STRATEGY_KEY = "strategy:"


class AccountAt(msgspec.Struct, kw_only=True):
    """One account after its ``events``-th event, stored at ``position``."""

    view: AccountView
    position: int = 0
    occurred_at: str = ""  # of the last event applied (ISO, UTC)
    events: int = 0
    open_orders: dict[str, BrokerOrder] = {}
    settings: dict[str, Any] = {}


def instant(moment: datetime) -> str:
    """The sortable text form of a time in the timeline (UTC, microseconds)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def account_of(event: AnyEvent) -> str:
    """The account an event changes ('' for none)."""
    if not isinstance(event, _CLASSES):
        return ""
    if isinstance(event, WebhookFailed) and not _failed_order(event):
        return ""
    return event.account_id


def strategy_key(event: AnyEvent) -> str:
    """The index key of a strategy registry event ('' for any other event)."""
    if isinstance(event, _STRATEGY_CLASSES):
        return STRATEGY_KEY + event.strategy_id
    return ""


def strategy_to_api(event: AnyEvent, position: int, requested: str) -> dict[str, Any]:
    """A strategy's settings as a registry event left them (secrets masked)."""
    assert isinstance(event, _STRATEGY_CLASSES)
    return {"strategy_id": event.strategy_id, "tenant_id": event.tenant_id,
            "settings": masked(event.record),
            "as_of": {"requested": requested, "position": position,
                      "occurred_at": instant(event.occurred_at), "event": event_type(event)}}


def _failed_order(event: WebhookFailed) -> str:
    """The resting order a failure ended (a cancel, an expiry, a rejection)."""
    if event.stage != "execute":
        return ""
    return str(event.details.get("client_order_id", ""))


def new_state(account_id: str, tenant_id: str) -> AccountAt:
    """An account before its first event."""
    return AccountAt(view=AccountView(account_id=account_id, tenant_id=tenant_id))


def apply(state: AccountAt, event: AnyEvent, position: int) -> None:
    """Fold one event of the account (as :func:`account_of` chose it) into ``state``."""
    account = state.view.account_id
    projection = AccountsProjection({account: state.view} if state.events else {})
    projection.apply(event)
    state.view = projection.views.get(account, state.view)
    match event:
        case AccountOpened() | AccountUpdated() | AccountResumed():
            if event.record:
                state.settings = masked(event.record)
        case BreakerTripped() if event.paused and state.settings:
            state.settings = {**state.settings, "paused": True, "paused_reason": event.reason}
        case OrderPlaced() | LegResized() | OrderPartiallyFilled():
            state.open_orders[event.order.client_order_id] = event.order
        case LegFilled() | LegCanceled():
            state.open_orders.pop(event.order.client_order_id, None)
        case TradeExecuted():
            for fill in event.all_fills():
                state.open_orders.pop(fill.client_order_id, None)
            if event.request is not None:
                state.open_orders.pop(event.request.client_order_id, None)
            for canceled in event.canceled:
                state.open_orders.pop(canceled, None)
        case WebhookFailed():
            state.open_orders.pop(_failed_order(event), None)
        case _:
            pass
    state.position = position
    state.occurred_at = instant(event.occurred_at)
    state.events += 1


def masked(record: dict[str, Any]) -> dict[str, Any]:
    """A registry record without its secrets (sealed or not): every field whose name
    says secret or key, at any depth, masked; fingerprints are not secrets."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if isinstance(value, dict):
            out[name] = masked(value)
        elif value and ("secret" in name or name.endswith("_key")) \
                and not name.endswith("fingerprint"):
            out[name] = MASK
        else:
            out[name] = value
    return out


def to_api(state: AccountAt, requested: str) -> dict[str, Any]:
    """The JSON body of an account as of a moment: the live account's fields (valued
    at the last prices it traded at), its open orders and settings, and which stored
    event the answer stands on."""
    body = view_to_api(state.view, {})
    body["as_of"] = {"requested": requested, "position": state.position,
                     "occurred_at": state.occurred_at, "events": state.events}
    body["open_orders"] = [msgspec.to_builtins(order) for _, order in
                           sorted(state.open_orders.items())]
    body["settings"] = state.settings
    body["paused"] = bool(state.settings.get("paused", False))
    return body


_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(AccountAt)


def encode(state: AccountAt) -> bytes:
    """A snapshot's stored form."""
    return _encoder.encode(state)


def decode(data: bytes | str) -> AccountAt:
    """Inverse of :func:`encode`."""
    return _decoder.decode(data)

