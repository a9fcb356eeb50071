"""NATS subjects: public lifecycle subjects carry tenant, account and strategy tokens.

``webhook.received.<tenant>.<strategy>``
``webhook.validated.<tenant>.<account>.<strategy>``
``order.requested.<tenant>.<account>.<strategy>``
``webhook.trade_executed.<tenant>.<account>.<strategy>``
``webhook.failed.<tenant>.<account>.<strategy>``
``order.placed.<tenant>.<account>.<strategy>``
``order.leg_filled.…`` / ``order.leg_canceled.…`` / ``order.leg_resized.…`` (as above)
``order.cancel_requested.<tenant>.<account>.<strategy>`` (strategy ``_`` when none)
``account.breaker_tripped.<tenant>.<account>``, ``account.resumed.<tenant>.<account>``
``registry.<kind>.<tenant>``
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
    CancelRequested,
    Event,
    LegCanceled,
    LegFilled,
    LegResized,
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
REGISTRY = "registry.>"
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


def subject_for(event: Event) -> str:
    """The subject an event is published on."""
    tenant = token(event.tenant_id)
    match event:
        case WebhookReceived():
            return f"webhook.received.{tenant}.{token(event.strategy_id)}"
        case WebhookValidated():
            account, strategy = token(event.account_id), token(event.strategy_id)
            return f"webhook.validated.{tenant}.{account}.{strategy}"
        case OrderRequested():
            return f"order.requested.{tenant}.{token(event.account_id)}.{token(event.strategy_id)}"
        case OrderPlaced():
            return f"order.placed.{tenant}.{token(event.account_id)}.{token(event.strategy_id)}"
        case LegFilled():
            return (f"order.leg_filled.{tenant}.{token(event.account_id)}."
                    f"{token(event.strategy_id)}")
        case LegCanceled():
            return (f"order.leg_canceled.{tenant}.{token(event.account_id)}."
                    f"{token(event.strategy_id)}")
        case LegResized():
            return (f"order.leg_resized.{tenant}.{token(event.account_id)}."
                    f"{token(event.strategy_id)}")
        case CancelRequested():
            return (f"order.cancel_requested.{tenant}.{token(event.account_id)}."
                    f"{token(event.strategy_id)}")
        case TradeExecuted():
            return (
                f"webhook.trade_executed.{tenant}.{token(event.account_id)}."
                f"{token(event.strategy_id)}"
            )
        case WebhookFailed():
            return f"webhook.failed.{tenant}.{token(event.account_id)}.{token(event.strategy_id)}"
        case BreakerTripped():
            return f"account.breaker_tripped.{tenant}.{token(event.account_id)}"
        case AccountResumed():
            return f"account.resumed.{tenant}.{token(event.account_id)}"
        case TenantCreated():
            return f"registry.tenant_created.{tenant}"
        case TenantUpdated():
            return f"registry.tenant_updated.{tenant}"
        case AccountOpened():
            return f"registry.account_opened.{tenant}"
        case AccountUpdated():
            return f"registry.account_updated.{tenant}"
        case StrategyRegistered():
            return f"registry.strategy_registered.{tenant}"
        case StrategySecretRotated():
            return f"registry.strategy_secret_rotated.{tenant}"
        case StrategyUpdated():
            return f"registry.strategy_updated.{tenant}"
        case AuthFailuresAlert():
            return f"security.auth_failures.{tenant}"
    raise TypeError(f"no subject for {type(event).__name__}")


def price_subject(symbol: str) -> str:
    """Where price ticks for ``symbol`` are published (``market.price.BTC_USD``)."""
    return f"{MARKET_PREFIX}.{token(symbol)}"


def dead_letter_subject(consumer: str) -> str:
    """Where a consumer parks a message it could not handle."""
    return f"deadletter.{token(consumer)}"
