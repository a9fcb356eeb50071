"""The event catalogue: every fact tradehooks publishes, as versioned msgspec Structs.

Events are frozen, keyword-only and tagged by ``type`` so one decoder reads any of
them. Unknown fields are ignored on decode, so an old consumer survives a newer
producer. Every event carries ``event_id``, ``signal_id`` (the correlation id),
``tenant_id``, ``occurred_at`` and ``schema_version``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, cast

import msgspec

from contracts.dialects.model import ParsedAlert
from contracts.orders import BrokerOrder, Fill, OrderRequest
from contracts.signals import Signal

Stage = Literal["ingress", "validate", "risk", "execute", "sltp", "audit"]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Fields every event carries."""

    event_id: str
    signal_id: str
    tenant_id: str
    occurred_at: datetime
    schema_version: int = 1


class WebhookReceived(Event, tag="webhook.received", kw_only=True, frozen=True):
    """Ingress accepted an authenticated alert and stored it durably."""

    strategy_id: str
    account_id: str
    dialect: str
    payload: dict[str, Any]
    content_type: str
    auth_mode: str
    source_ip: str = ""
    # A dry run (``?dry_run=1``): validated and decided like any signal, never sent
    # to a broker; it ends in a ``webhook.trade_executed`` with ``dry_run`` and no fill.
    dry_run: bool = False
    # The alert as ingress parsed it (absent in events recorded before ingress
    # carried it: :meth:`parsed` reads those from the payload).
    alert: ParsedAlert | None = None

    def parsed(self) -> ParsedAlert:
        """The parsed alert; raises :class:`~contracts.dialects.AlertError` for an
        old event whose payload no longer parses."""
        if self.alert is not None:
            return self.alert
        from contracts.dialects import parse_alert  # only old events: see contracts.dialects

        return parse_alert(self.payload)


class WebhookValidated(Event, tag="webhook.validated", kw_only=True, frozen=True):
    """The alert was normalised into a signal that the account and broker accept."""

    strategy_id: str
    account_id: str
    signal: Signal
    dry_run: bool = False


class OrderRequested(Event, tag="order.requested", kw_only=True, frozen=True):
    """Risk sized the signal and asks the executor for one order."""

    strategy_id: str
    account_id: str
    order: OrderRequest


class OrderPlaced(Event, tag="order.placed", kw_only=True, frozen=True):
    """The broker accepted an order that rests (limit/stop) until the market reaches it.

    Not terminal: ``webhook.trade_executed`` follows when it fills, or
    ``webhook.failed`` (stage execute) when it is cancelled, expires or is rejected.
    """

    strategy_id: str
    account_id: str
    broker: str
    order: BrokerOrder


class OrderPartiallyFilled(Event, tag="order.partially_filled", kw_only=True, frozen=True):
    """Part of a resting order (an entry or a protective leg) filled; the rest still
    rests. ``order.filled_quantity`` is the part filled so far and
    ``order.average_fill_price`` its average price; one event each time it grows.

    Not terminal: ``webhook.trade_executed`` (or ``order.leg_filled``) follows with
    the whole fill, or the part that filled when the rest is cancelled.
    """

    strategy_id: str
    account_id: str
    broker: str
    order: BrokerOrder


class LegFilled(Event, tag="order.leg_filled", kw_only=True, frozen=True):
    """A protective leg (stop-loss / take-profit) of a filled entry filled."""

    strategy_id: str
    account_id: str
    broker: str
    leg: str
    order: BrokerOrder
    fill: Fill


class LegCanceled(Event, tag="order.leg_canceled", kw_only=True, frozen=True):
    """A protective leg ended unfilled: its OCO sibling filled, an exit closed the
    position, the orphan cleanup found no position, or the broker refused it."""

    strategy_id: str
    account_id: str
    broker: str
    leg: str
    order: BrokerOrder
    reason: str


class LegResized(Event, tag="order.leg_resized", kw_only=True, frozen=True):
    """A protective leg was shrunk to the position it protects (a partial exit or
    another strategy's fill made the position smaller than the leg); ``order`` has
    the new quantity."""

    strategy_id: str
    account_id: str
    broker: str
    leg: str
    order: BrokerOrder
    reason: str


class CancelRequested(Event, tag="order.cancel_requested", kw_only=True, frozen=True):
    """A decision to cancel resting orders, carried out by the executor — the only
    code that writes to a broker — in the account's order.

    Which orders: every open order of the account, or of ``symbol`` when given;
    ``legs_only`` narrows it to protective legs. With ``protection`` the executor
    applies the protection rule instead (legs with no position, on the wrong side or
    larger than the position are cancelled or shrunk, judged when it gets there):
    the orphan cleanup asks this way. ``client_order_ids`` are the orders the
    requester saw, for the record. ``signal_id`` is the requester's correlation id
    (the breaker trip, the cleanup round).
    """

    account_id: str
    strategy_id: str = ""
    symbol: str = ""
    legs_only: bool = False
    protection: bool = False
    reason: str
    client_order_ids: list[str] = []


class TradeExecuted(Event, tag="webhook.trade_executed", kw_only=True, frozen=True):
    """Terminal: the broker carried out the signal's order.

    ``fill`` is the fill of the signal's one order. A ``close_all`` over an account
    trades one order per position: then ``fill`` is None and ``fills`` lists each
    (``skipped`` names a position that could not be closed, with why). A
    ``cancel_all`` fills nothing: ``canceled`` lists the orders it cancelled.
    Apply :meth:`all_fills`, never both fields.
    """

    strategy_id: str
    account_id: str
    broker: str
    fill: Fill | None = None
    # The order that filled, so followers (the SL/TP monitor) know its intent,
    # alert price and requested stop-loss / take-profit.
    request: OrderRequest | None = None
    fills: list[Fill] = []
    canceled: list[str] = []
    skipped: dict[str, str] = {}
    # A dry run ended here: ``request`` is the order risk would have sent, nothing
    # reached a broker and ``fill`` is None.
    dry_run: bool = False

    def all_fills(self) -> list[Fill]:
        """Every fill this signal made, whichever field carries it."""
        return [self.fill] if self.fill is not None else list(self.fills)


class WebhookFailed(Event, tag="webhook.failed", kw_only=True, frozen=True):
    """Terminal: the signal stopped at ``stage`` for ``reason``."""

    strategy_id: str = ""
    account_id: str = ""
    stage: Stage
    code: str
    reason: str
    details: dict[str, Any] = {}
    dry_run: bool = False


class BreakerTripped(Event, tag="account.breaker_tripped", kw_only=True, frozen=True):
    """The portfolio breaker tripped: ``kind`` is ``sl`` (liquidate and pause) or
    ``tp``. ``signal_id`` is the trip's own correlation id."""

    account_id: str
    kind: Literal["sl", "tp"]
    equity: Decimal
    threshold: Decimal
    base_equity: Decimal
    liquidating: list[str] = []
    canceled_orders: list[str] = []
    paused: bool = False
    # Why the account is paused (its ``paused_reason`` from now on), when paused.
    reason: str = ""


class RegistryChange(Event, frozen=True, kw_only=True):
    """A change of a tenant, account or strategy. ``record`` is the record after the
    change as the registry stores it (secrets sealed with the master key, never
    plain), so the registry can be rebuilt from the event store alone."""

    record: dict[str, Any] = {}


class AccountResumed(RegistryChange, tag="account.resumed", kw_only=True, frozen=True):
    """An operator resumed a paused account; the breaker is re-armed."""

    account_id: str
    by: str = "operator"


class TenantCreated(RegistryChange, tag="registry.tenant_created", kw_only=True, frozen=True):
    """An operator (or the demo provisioning) created a tenant."""

    name: str


class TenantUpdated(RegistryChange, tag="registry.tenant_updated", kw_only=True, frozen=True):
    """An operator changed a tenant (``changes``: field → new value), e.g. disabled it."""

    changes: dict[str, Any]
    by: str = ""


class AccountOpened(RegistryChange, tag="registry.account_opened", kw_only=True, frozen=True):
    """A broker account was registered with its starting balance."""

    account_id: str
    name: str
    broker: str
    currency: str
    starting_cash: Decimal


class AccountUpdated(RegistryChange, tag="registry.account_updated", kw_only=True, frozen=True):
    """An operator changed an account's settings (``changes``: field → new value;
    broker keys appear masked)."""

    account_id: str
    changes: dict[str, Any]
    by: str = ""


class StrategyRegistered(RegistryChange, tag="registry.strategy_registered", kw_only=True,
                         frozen=True):
    """A strategy (bot) was bound to an account; its secret is never in the event."""

    strategy_id: str
    account_id: str
    name: str
    slug: str
    secret_fingerprint: str


class StrategySecretRotated(RegistryChange, tag="registry.strategy_secret_rotated", kw_only=True,
                            frozen=True):
    """A strategy got a new secret; the old one works until ``previous_valid_until``."""

    strategy_id: str
    secret_fingerprint: str
    previous_fingerprint: str
    previous_valid_until: datetime


class StrategyUpdated(RegistryChange, tag="registry.strategy_updated", kw_only=True, frozen=True):
    """An operator changed a strategy's settings (``changes``: field → new value;
    secrets never appear here)."""

    strategy_id: str
    changes: dict[str, Any]
    by: str = ""


class AuthFailuresAlert(Event, tag="security.auth_failures", kw_only=True, frozen=True):
    """Operator alert: failed authentications for a strategy passed the threshold in
    one window (one alert per strategy and window, whatever the number of senders)."""

    strategy_hint: str  # the strategy's slug, or "unknown" (the request named none)
    source_ip: str
    failures: int
    window_s: int
    threshold: int
    # The strategy's id (slugs repeat across tenants); empty for "unknown".
    strategy_id: str = ""


class CallbackChange(RegistryChange, frozen=True, kw_only=True):
    """A change of a tenant's callback endpoint (``record``: the endpoint after it,
    its secrets sealed)."""

    endpoint_id: str


class CallbackCreated(CallbackChange, tag="registry.callback_created", kw_only=True,
                      frozen=True):
    """An operator registered a callback endpoint; its secret is never in the event."""

    url: str
    event_types: list[str]
    secret_fingerprint: str


class CallbackUpdated(CallbackChange, tag="registry.callback_updated", kw_only=True,
                      frozen=True):
    """An operator changed a callback endpoint (``changes``: field → new value)."""

    changes: dict[str, Any]
    by: str = ""


class CallbackSecretRotated(CallbackChange, tag="registry.callback_secret_rotated",
                            kw_only=True, frozen=True):
    """A callback endpoint got a new signing secret; deliveries are signed with both
    until ``previous_valid_until``."""

    secret_fingerprint: str
    previous_fingerprint: str
    previous_valid_until: datetime


class CallbackEndpointFailing(CallbackChange, tag="callback.endpoint_failing", kw_only=True,
                              frozen=True):
    """A delivery to the endpoint was parked (out of retries): the endpoint is marked
    failing; ``streak`` deliveries in a row were parked."""

    streak: int
    reason: str


class CallbackEndpointRecovered(CallbackChange, tag="callback.endpoint_recovered",
                                kw_only=True, frozen=True):
    """A failing endpoint took a delivery again: no longer failing."""


class CallbackEndpointDisabled(CallbackChange, tag="callback.endpoint_disabled",
                               kw_only=True, frozen=True):
    """The dispatcher disabled the endpoint: ``streak`` deliveries in a row were parked
    (``TRADEHOOKS_CALLBACK_DISABLE_AFTER``), or it answered 410 Gone."""

    streak: int
    reason: str


class CallbackRequested(Event, tag="callback.requested", kw_only=True, frozen=True):
    """Endpoint ``endpoint_id`` is to be told about event ``source_event_id`` (its
    ``webhook-id``). ``signal_id`` is the source event's, so a signal's trail shows
    who was told what. ``payload`` is the body's ``data``: the event as published."""

    endpoint_id: str
    delivery_id: str
    source_event_id: str
    source_type: str
    payload: dict[str, Any]
    # A redelivery an operator asked for: the delivery it repeats, and who asked.
    redelivery_of: str = ""
    by: str = ""


class CallbackAttempted(Event, tag="callback.attempted", kw_only=True, frozen=True):
    """One HTTP attempt of a delivery: ``outcome`` ``delivered`` (a 2xx answer),
    ``failed`` (another answer, a timeout, a connection error: retried at
    ``next_attempt_at`` unless parked) or ``refused`` (the URL's address is not
    allowed: nothing was sent)."""

    endpoint_id: str
    delivery_id: str
    source_event_id: str
    attempt: int
    outcome: Literal["delivered", "failed", "refused"]
    status_code: int = 0
    error: str = ""
    duration_ms: int = 0
    next_attempt_at: datetime | None = None


class CallbackParked(Event, tag="callback.parked", kw_only=True, frozen=True):
    """A delivery was given up after ``attempts`` attempts (its retry period ran out,
    the endpoint answered 410, or it was disabled); an operator can redeliver it."""

    endpoint_id: str
    delivery_id: str
    source_event_id: str
    attempts: int
    reason: str


AnyEvent = (
    WebhookReceived
    | WebhookValidated
    | OrderRequested
    | OrderPlaced
    | OrderPartiallyFilled
    | LegFilled
    | LegCanceled
    | LegResized
    | CancelRequested
    | TradeExecuted
    | WebhookFailed
    | BreakerTripped
    | AccountResumed
    | TenantCreated
    | TenantUpdated
    | AccountOpened
    | AccountUpdated
    | StrategyRegistered
    | StrategySecretRotated
    | StrategyUpdated
    | AuthFailuresAlert
    | CallbackCreated
    | CallbackUpdated
    | CallbackSecretRotated
    | CallbackEndpointFailing
    | CallbackEndpointRecovered
    | CallbackEndpointDisabled
    | CallbackRequested
    | CallbackAttempted
    | CallbackParked
)

TERMINAL_TYPES = frozenset({"webhook.trade_executed", "webhook.failed"})
# What a tenant's callback endpoint may subscribe to: the lifecycle of its signals,
# orders and accounts, and security alerts (never internal requests, registry
# records or the callbacks' own events).
CALLBACK_EVENT_TYPES = (
    "webhook.received", "webhook.validated", "webhook.trade_executed", "webhook.failed",
    "order.placed", "order.partially_filled", "order.leg_filled", "order.leg_canceled",
    "order.leg_resized", "account.breaker_tripped", "account.resumed",
    "security.auth_failures",
)

_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(AnyEvent)


def encode_event(event: Event) -> bytes:
    """Serialise an event for the wire."""
    return _encoder.encode(event)


def decode_event(data: bytes) -> AnyEvent:
    """Parse wire bytes into the matching event class (raises msgspec.DecodeError)."""
    return _decoder.decode(data)


def event_type(event: Event) -> str:
    """The ``type`` tag of an event, e.g. ``webhook.received``."""
    return str(type(event).__struct_config__.tag)


def event_to_builtins(event: Event) -> dict[str, Any]:
    """The event as plain JSON-safe values (decimals as strings, times as ISO)."""
    data: dict[str, Any] = msgspec.to_builtins(event)
    data["type"] = event_type(event)
    return data


def event_from_builtins(data: dict[str, Any]) -> AnyEvent:
    """Inverse of :func:`event_to_builtins`."""
    return cast(AnyEvent, msgspec.convert(data, AnyEvent, strict=False))
