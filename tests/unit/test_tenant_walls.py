"""Pure rules of the tenant walls: id namespaces, suspension, a disabled tenant's keys."""

from __future__ import annotations

import pytest

from contracts.identifiers import namespace_of
from libs.http.problems import Problem
from libs.registry.api_keys import ApiKey
from libs.registry.models import Account, Strategy, Tenant
from services.api.suspension import check_tenant_may_write, switched

ROOT = ApiKey(id="root", role="admin", key_hash="x")
OWN = ApiKey(id="own", role="admin", tenant_id="acme", key_hash="x")
ACCOUNT = Account(id="acme-main", tenant_id="acme", name="Main")
STRATEGY = Strategy(id="s1", tenant_id="acme", account_id="acme-main", name="S", slug="s",
                    secret="whsec_x")


@pytest.mark.parametrize(("record_id", "namespace"), [
    ("acme-main", "acme"), ("acme-x-main", "acme-x"), ("acme_main", ""), ("acme-", ""),
    ("-main", ""), ("acct-1a2b", "acct"), ("plain", ""),
])
def test_an_id_is_in_the_namespace_before_its_last_dash(record_id: str,
                                                       namespace: str) -> None:
    assert namespace_of(record_id) == namespace


def test_two_tenants_namespaces_never_overlap() -> None:
    # Whatever names "acme" and "acme-x" choose, their ids are never the same id.
    ids_acme = {f"acme-{n}" for n in ("x", "x_y", "main")}
    assert all(namespace_of(i) == "acme" for i in ids_acme)
    assert namespace_of("acme-x-y") == "acme-x"


def test_a_global_admins_switch_off_suspends_and_only_it_lifts_it() -> None:
    off = switched(ROOT, ACCOUNT, ACCOUNT.model_copy(update={"active": False}))
    assert off.suspended and not off.active
    with pytest.raises(Problem) as refused:
        switched(OWN, off, off.model_copy(update={"active": True}))
    assert (refused.value.status, refused.value.code) == (403, "suspended")
    renamed = switched(OWN, off, off.model_copy(update={"name": "Other"}))
    assert renamed.suspended and not renamed.active
    on = switched(ROOT, off, off.model_copy(update={"active": True}))
    assert on.active and not on.suspended


def test_a_tenants_own_switch_off_is_its_own_to_undo() -> None:
    off = switched(OWN, STRATEGY, STRATEGY.model_copy(update={"enabled": False}))
    assert not off.suspended
    on = switched(OWN, off, off.model_copy(update={"enabled": True}))
    assert on.enabled and not on.suspended


def test_a_disabled_tenants_keys_only_read() -> None:
    disabled, active = Tenant(id="acme", name="A", active=False), Tenant(id="acme", name="A")
    for method in ("GET", "HEAD", "OPTIONS"):
        check_tenant_may_write(method, OWN, disabled)
    check_tenant_may_write("POST", OWN, active)
    check_tenant_may_write("POST", ROOT, disabled)  # a global key has no tenant
    for method in ("POST", "PATCH", "DELETE", "PUT"):
        with pytest.raises(Problem) as refused:
            check_tenant_may_write(method, OWN, disabled)
        assert (refused.value.status, refused.value.code) == (403, "tenant_disabled")
