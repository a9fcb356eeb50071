"""NATS subjects: public lifecycle subjects carry tenant, account and strategy tokens.

``webhook.received.<tenant>.<strategy>``
``webhook.validated.<tenant>.<account>.<strategy>``
``order.requested.<tenant>.<account>.<strategy>``
``webhook.trade_executed.<tenant>.<account>.<strategy>``
``webhook.failed.<tenant>.<account>.<strategy>``
``order.placed.<tenant>.<account>.<strategy>``
``order.partially_filled.<tenant>.<account>.<strategy>``
``order.leg_filled.…`` / ``order.leg_canceled.…`` / ``order.leg_resized.…`` (as above)
``order.cancel_requested.<tenant>.<account>.<strategy>`` (strategy ``_`` when none)
``account.breaker_tripped.<tenant>.<account>``, ``account.resumed.<tenant>.<account>``
``registry.<kind>.<tenant>``
``callback.<kind>.<tenant>.<endpoint>`` (deliveries, attempts, endpoint health)
``market.price.<symbol>`` (stream MARKET: prices are inputs, not audited events)
``tradehooks.cmd.cleanup`` / ``tradehooks.cmd.status`` (operator commands, request/reply)

Subscribers filter with wildcards, e.g. ``webhook.*.acme.>`` for one tenant.
"""

from __future__ import annotations

import re

from contracts.events import (
    AccountOpened,
    AccountResumed,
    AccountUpdated,
    AuthFailuresAlert,
    BreakerTripped,
    CallbackAttempted,
    CallbackCreated,
    CallbackEndpointDisabled,
    CallbackEndpointFailing,
    CallbackEndpointRecovered,
    CallbackParked,
    CallbackRequested,
    CallbackSecretRotated,
    CallbackUpdated,
    CancelRequested,
    Event,
    LegCanceled,
    LegFilled,
    LegResized,
    OrderPartiallyFilled,
    OrderPlaced,
    OrderRequested,
    StrategyRegistered,
    StrategySecretRotated,
    StrategyUpdated,
    TenantCreated,
    TenantUpdated,
    TradeExecuted,
    WebhookFailed,
    WebhookReceived,
    WebhookValidated,
)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
EMPTY_TOKEN = "_"  # noqa: S105 - a subject token, not a password

RECEIVED = "webhook.received.>"
VALIDATED = "webhook.validated.>"
ORDER_REQUESTED = "order.requested.>"
CANCEL_REQUESTED = "order.cancel_requested.>"
TRADE_EXECUTED = "webhook.trade_executed.>"
FAILED = "webhook.failed.>"
PARTIALLY_FILLED = "order.partially_filled.>"
REGISTRY = "registry.>"
CALLBACK_REQUESTED = "callback.requested.>"
DEAD_LETTER = "deadletter.>"
MARKET_PREFIX = "market.price"
PRICES = "market.price.>"


# Operator commands, answered over NATS request/reply by one sl-tp-monitor instance
# (queue group); the operator API asks on them.
CLEANUP_COMMAND = "tradehooks.cmd.cleanup"
STATUS_COMMAND = "tradehooks.cmd.status"


def token(value: str) -> str:
    """Make a value safe as one subject token (no dots, spaces or wildcards)."""
    return _UNSAFE.sub("_", value) or EMPTY_TOKEN


# The tokens after an event's type in its subject, in order. The subject of an event
# is its type followed by these (``webhook.received.<tenant>.<strategy>``).
_BY_STRATEGY = ("tenant", "account", "strategy")
SUBJECT_TOKENS: dict[type[Event], tuple[str, ...]] = {
    WebhookReceived: ("tenant", "strategy"),
    WebhookValidated: _BY_STRATEGY,
    OrderRequested: _BY_STRATEGY,
    OrderPlaced: _BY_STRATEGY,
    OrderPartiallyFilled: _BY_STRATEGY,
    LegFilled: _BY_STRATEGY,
    LegCanceled: _BY_STRATEGY,
    LegResized: _BY_STRATEGY,
    CancelRequested: _BY_STRATEGY,
    TradeExecuted: _BY_STRATEGY,
    WebhookFailed: _BY_STRATEGY,
    BreakerTripped: ("tenant", "account"),
    AccountResumed: ("tenant", "account"),
    TenantCreated: ("tenant",),
    TenantUpdated: ("tenant",),
    AccountOpened: ("tenant",),
    AccountUpdated: ("tenant",),
    StrategyRegistered: ("tenant",),
    StrategySecretRotated: ("tenant",),
    StrategyUpdated: ("tenant",),
    AuthFailuresAlert: ("tenant",),
    CallbackCreated: ("tenant",),
    CallbackUpdated: ("tenant",),
    CallbackSecretRotated: ("tenant",),
    CallbackRequested: ("tenant", "endpoint"),
    CallbackAttempted: ("tenant", "endpoint"),
    CallbackParked: ("tenant", "endpoint"),
    CallbackEndpointFailing: ("tenant", "endpoint"),
    CallbackEndpointRecovered: ("tenant", "endpoint"),
    CallbackEndpointDisabled: ("tenant", "endpoint"),
}
# Which field of the event fills each token.
_TOKEN_FIELDS = {"tenant": "tenant_id", "account": "account_id", "strategy": "strategy_id",
                 "endpoint": "endpoint_id"}


def event_type(cls: type[Event]) -> str:
    """The ``type`` tag of an event class (``webhook.received``)."""
    return str(cls.__struct_config__.tag)


def subject_template(cls: type[Event]) -> str:
    """The subject of an event class with its tokens named:
    ``webhook.received.{tenant}.{strategy}``."""
    return ".".join([event_type(cls), *(f"{{{name}}}" for name in SUBJECT_TOKENS[cls])])


def subject_for(event: Event) -> str:
    """The subject an event is published on (an empty id is the token ``_``)."""
    names = SUBJECT_TOKENS.get(type(event))
    if names is None:
        raise TypeError(f"no subject for {type(event).__name__}")
    return ".".join([event_type(type(event)),
                     *(token(getattr(event, _TOKEN_FIELDS[name])) for name in names)])


def price_subject(symbol: str) -> str:
    """Where price ticks for ``symbol`` are published (``market.price.BTC_USD``)."""
    return f"{MARKET_PREFIX}.{token(symbol)}"


def dead_letter_subject(consumer: str) -> str:
    """Where a consumer parks a message it could not handle."""
    return f"deadletter.{token(consumer)}"
