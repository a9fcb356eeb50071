"""Suspension is final: what a global admin switched off, only a global admin switches
on again.

Accounts (``active``) and strategies (``enabled``) carry ``suspended``, set by the
server when a global admin (a key without a tenant) switches them off and cleared
when a global admin switches them on. A tenant's own admin may switch its records
off and on, but not on again after a global admin switched them off. A disabled
tenant's keys only read (:func:`check_tenant_may_write`).
"""

from __future__ import annotations

from typing import TypeVar

from libs.http.problems import Problem
from libs.registry.api_keys import ApiKey
from libs.registry.models import Account, Strategy, Tenant

R = TypeVar("R", Account, Strategy)
# Methods that change nothing: what a disabled tenant's keys may still do.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _is_on(record: Account | Strategy) -> bool:
    return record.active if isinstance(record, Account) else record.enabled


def switched(key: ApiKey, before: R, after: R) -> R:
    """``after`` with ``suspended`` as the change by ``key`` leaves it; 403 when a
    tenant's key switches on what a global admin switched off."""
    kind = "account" if isinstance(before, Account) else "strategy"
    if _is_on(before) and not _is_on(after):
        return after.model_copy(update={"suspended": not key.tenant_id})
    if not _is_on(before) and _is_on(after):
        if before.suspended and key.tenant_id:
            raise Problem(403, "suspended",
                          f"this {kind} was disabled by a global admin: only a global "
                          "admin can enable it again")
        return after.model_copy(update={"suspended": False})
    return after.model_copy(update={"suspended": before.suspended})


def check_tenant_may_write(method: str, key: ApiKey, tenant: Tenant | None) -> None:
    """403 for anything but a read by a key of a disabled tenant."""
    if method.upper() in READ_METHODS or not key.tenant_id:
        return
    if tenant is not None and not tenant.active:
        raise Problem(403, "tenant_disabled",
                      f"tenant {key.tenant_id} is disabled: its keys can only read")
