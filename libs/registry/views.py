"""How registry records are shown outside the registry: never a secret."""

from __future__ import annotations

from typing import Any

from libs.registry.models import (
    Account,
    CallbackEndpoint,
    NotificationChannel,
    Record,
    Strategy,
    Tenant,
)

MASK = "********"


def strategy_view(strategy: Strategy) -> dict[str, Any]:
    """A strategy as the API and events show it: everything but its secrets."""
    return strategy.model_dump(mode="json", exclude={"secret", "previous_secret"})


def account_view(account: Account) -> dict[str, Any]:
    """An account as the API and events show it: broker keys masked."""
    data = account.model_dump(mode="json")
    if data.get("alpaca"):
        data["alpaca"]["secret_key"] = MASK
    if data.get("exchange"):
        for field in ("secret", "password"):
            if data["exchange"].get(field):
                data["exchange"][field] = MASK
    return data


def channel_view(channel: NotificationChannel) -> dict[str, Any]:
    """A notification channel as the API shows it: its secret masked."""
    data = channel.model_dump(mode="json")
    if data.get("secret"):
        data["secret"] = MASK
    return data


def tenant_view(tenant: Tenant) -> dict[str, Any]:
    """A tenant as the API shows it: its notification channels' secrets masked."""
    data = tenant.model_dump(mode="json")
    data["notifications"] = [channel_view(c) for c in tenant.notifications]
    return data


def callback_view(endpoint: CallbackEndpoint) -> dict[str, Any]:
    """A callback endpoint as the API and events show it: everything but its secrets."""
    return endpoint.model_dump(mode="json", exclude={"secret", "previous_secret"})


def record_view(record: Record) -> dict[str, Any]:
    """The public view of any registry record."""
    if isinstance(record, CallbackEndpoint):
        return callback_view(record)
    if isinstance(record, Strategy):
        return strategy_view(record)
    if isinstance(record, Account):
        return account_view(record)
    return tenant_view(record)


def changed_fields(before: Record, after: Record) -> dict[str, Any]:
    """Field → new value for every field whose public view changed."""
    old, new = record_view(before), record_view(after)
    return {name: value for name, value in new.items() if old.get(name) != value}
