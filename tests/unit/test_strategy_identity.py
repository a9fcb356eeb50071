"""Strategy identity: URLs that name a tenant, JWT subs, credentials bound to their URL,
and failures counted against the strategy they were aimed at."""

from __future__ import annotations

import time
from typing import Any, cast

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pydantic import ValidationError

from contracts.webhook_urls import webhook_path, webhook_url
from libs.registry.cache import StrategyCache
from libs.registry.models import Strategy
from libs.runtime.config import load_settings
from services.ingress.auth.bearer import verify_jwt
from services.ingress.auth.failures import aimed_at
from services.ingress.auth.jwt_rules import JwtRules
from services.ingress.auth.routing import authenticate
from services.ingress.auth.signatures import AuthError
from services.ingress.auth.targets import UrlTarget, ambiguous
from tests.factories import make_strategy

RULES = JwtRules()
# Two tenants, one slug: what another tenant can always do.
OURS = make_strategy(id="strat-ours", tenant_id="acme", slug="demo",
                     secret="whsec_" + "o" * 43)
THEIRS = make_strategy(id="strat-theirs", tenant_id="evil", slug="demo",
                       secret="whsec_" + "t" * 43)
LONE = make_strategy(id="strat-lone", tenant_id="acme", slug="lone",
                     secret="whsec_" + "l" * 43)


def cache_of(*strategies: Strategy) -> StrategyCache:
    cache = StrategyCache(cast(Any, None))  # lookups only: no registry needed
    cache.by_id = {s.id: s for s in strategies}
    return cache


def hs256(strategy: Strategy, sub: str, **claims: Any) -> str:
    return jwt.encode({"sub": sub, "exp": time.time() + 60, **claims}, strategy.secret,
                      algorithm="HS256")


def test_the_one_url_helper_qualifies_the_slug_with_the_tenant() -> None:
    assert webhook_path("acme", "demo") == "/webhook/acme/demo"
    assert webhook_url("https://hooks.example/", "acme", "demo") == \
        "https://hooks.example/webhook/acme/demo"


def test_each_url_form_means_its_strategies() -> None:
    cache = cache_of(OURS, THEIRS, LONE)
    assert UrlTarget("acme", "demo").strategies(cache) == [OURS]
    assert UrlTarget("evil", "lone").strategies(cache) == []
    assert {s.id for s in UrlTarget(None, "demo").strategies(cache) or []} == \
        {OURS.id, THEIRS.id}
    assert UrlTarget().strategies(cache) is None
    assert UrlTarget.of({"tenant": "acme", "slug": "demo"}) == UrlTarget("acme", "demo")


def test_only_an_ambiguous_legacy_url_is_a_conflict_naming_no_tenant() -> None:
    cache = cache_of(OURS, THEIRS, LONE)
    legacy = UrlTarget(None, "demo")
    problem = ambiguous(legacy, legacy.strategies(cache))
    assert problem is not None and problem.status == 409
    assert "/webhook/<tenant>/demo" in problem.message
    assert "evil" not in problem.message and "acme" not in problem.message
    for target in (UrlTarget(None, "lone"), UrlTarget("acme", "demo"), UrlTarget()):
        assert ambiguous(target, target.strategies(cache)) is None


def test_tokens_are_bound_to_the_url() -> None:
    cache = cache_of(OURS, THEIRS, LONE)

    def auth(target: UrlTarget, token: str) -> Strategy:
        return authenticate(cache, target.strategies(cache), {}, token, None, b"",
                            time.time(), 300)[0]

    assert auth(UrlTarget("acme", "demo"), OURS.secret) == OURS
    # A legacy URL two tenants share still works for each one's own secret.
    assert auth(UrlTarget(None, "demo"), OURS.secret) == OURS
    assert auth(UrlTarget(None, "demo"), THEIRS.secret) == THEIRS
    assert auth(UrlTarget(), LONE.secret) == LONE
    for target, token in ((UrlTarget("acme", "demo"), THEIRS.secret),
                          (UrlTarget("acme", "lone"), OURS.secret),
                          (UrlTarget(None, "lone"), OURS.secret)):
        with pytest.raises(AuthError, match="wrong token"):
            auth(target, token)


@pytest.mark.parametrize("sub", [OURS.id, "acme/demo", "demo"])
def test_a_jwt_sub_by_id_qualified_or_bare_slug_finds_its_strategy_among_tenants(
        sub: str) -> None:
    """Another tenant's strategy with the same slug does not break a bot's JWTs: a
    bare slug means the strategy whose key verifies the token."""
    cache = cache_of(OURS, THEIRS, LONE)
    token = hs256(OURS, sub)
    assert verify_jwt(token, cache, time.time(), RULES) == OURS
    assert verify_jwt(token, cache, time.time(), RULES,
                      UrlTarget("acme", "demo").strategies(cache)) == OURS


def test_a_jwt_posted_to_another_strategys_url_is_refused() -> None:
    cache = cache_of(OURS, THEIRS, LONE)
    for sub in (OURS.id, "acme/demo", "demo"):
        for target in (UrlTarget("evil", "demo"), UrlTarget("acme", "lone"),
                       UrlTarget(None, "lone")):
            with pytest.raises(AuthError):
                verify_jwt(hs256(OURS, sub), cache, time.time(), RULES,
                           target.strategies(cache))
    # A token signed with our secret but naming their strategy verifies for no one.
    with pytest.raises(AuthError, match="does not match"):
        verify_jwt(hs256(OURS, THEIRS.id), cache, time.time(), RULES)
    with pytest.raises(AuthError, match="does not match"):
        verify_jwt(hs256(OURS, "evil/demo"), cache, time.time(), RULES)


def test_a_bare_slug_that_verifies_for_several_strategies_is_refused() -> None:
    """Public keys are public: a tenant can register ours. A bare-slug token then
    means no one (never the copy), and naming the id still works."""
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    ours = OURS.model_copy(update={"jwt_public_key": pem})
    copy = THEIRS.model_copy(update={"jwt_public_key": pem})
    cache = cache_of(ours, copy)

    def signed(sub: str) -> str:
        return jwt.encode({"sub": sub, "exp": time.time() + 60}, private, algorithm="EdDSA")

    with pytest.raises(AuthError, match="several strategies"):
        verify_jwt(signed("demo"), cache, time.time(), RULES)
    assert verify_jwt(signed(ours.id), cache, time.time(), RULES) == ours
    assert verify_jwt(signed("acme/demo"), cache, time.time(), RULES) == ours


def test_jwt_time_rules_apply_after_the_signature() -> None:
    cache = cache_of(OURS)
    now = time.time()
    for claims, reason in (({"exp": str(int(now) + 60)}, "exp must be a number"),
                           ({"exp": now - 31}, "expired"),
                           ({"exp": now + 10 * 365 * 86_400}, "longer than the maximum"),
                           ({"iat": now + 300}, "issued in the future")):
        with pytest.raises(AuthError, match=reason):
            verify_jwt(hs256(OURS, OURS.id, **claims), cache, now, RULES)


def test_failures_are_counted_against_the_strategies_aimed_at() -> None:
    cache = cache_of(OURS, THEIRS, LONE)
    assert aimed_at(cache, UrlTarget("acme", "demo").strategies(cache), None, None) == [OURS]
    assert aimed_at(cache, UrlTarget(None, "demo").strategies(cache), None, None) == [
        OURS, THEIRS]
    assert aimed_at(cache, None, None, "acme/demo") == [OURS]
    assert aimed_at(cache, None, "lone", None) == [LONE]
    assert aimed_at(cache, UrlTarget("acme", "nothing").strategies(cache), None, None) == []
    assert aimed_at(cache, None, None, None) == []


def test_jwt_settings_are_bounded() -> None:
    settings = load_settings({})
    assert (settings.jwt_leeway_s, settings.jwt_max_lifetime_s) == (30, 86_400)
    assert load_settings({"TRADEHOOKS_JWT_LEEWAY_S": "5"}).jwt_leeway_s == 5
    with pytest.raises(ValidationError, match="jwt_leeway_s"):
        load_settings({"TRADEHOOKS_JWT_LEEWAY_S": "300"})
    with pytest.raises(ValidationError, match="jwt_max_lifetime_s"):
        load_settings({"TRADEHOOKS_JWT_MAX_LIFETIME_S": "0"})
