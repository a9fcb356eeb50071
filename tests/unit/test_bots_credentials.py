"""Header credentials, JWTs and source addresses."""

from __future__ import annotations

import time
from typing import Any, cast

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from libs.http.credentials import header_credential, looks_like_jwt
from libs.registry.cache import StrategyCache
from libs.registry.models import Strategy
from services.ingress.auth.bearer import verify_jwt
from services.ingress.auth.jwt_rules import JwtRules
from services.ingress.auth.signatures import AuthError
from services.ingress.client_ip import allowed, client_address, networks
from tests.factories import make_strategy

SECRET = "whsec_" + "k" * 43
RULES = JwtRules(leeway_s=5)


def cache_of(*strategies: Strategy) -> StrategyCache:
    cache = StrategyCache(cast(Any, None))  # lookups only: no registry needed
    cache.by_id = {s.id: s for s in strategies}
    return cache


def token(claims: dict[str, Any], key: Any = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def test_header_credentials() -> None:
    assert header_credential(None, " abc ") == "abc"
    assert header_credential("Bearer xyz", None) == "xyz"
    assert header_credential("Basic xyz", None) is None
    assert looks_like_jwt(token({"sub": "s", "exp": 1}))
    assert not looks_like_jwt(SECRET)


def test_hs256_jwt_signed_with_the_strategy_secret() -> None:
    strategy = make_strategy(secret=SECRET)
    now = time.time()
    good = token({"sub": strategy.id, "exp": now + 60})
    assert verify_jwt(good, cache_of(strategy), now, RULES) == strategy
    by_slug = token({"sub": strategy.slug, "exp": now + 60})
    assert verify_jwt(by_slug, cache_of(strategy), now, RULES) == strategy


@pytest.mark.parametrize(("claims", "key", "message"), [
    ({"sub": "nobody", "exp": 9e9}, SECRET, "names no known strategy"),
    ({"exp": 9e9}, SECRET, "no sub naming its strategy"),
    ({"sub": "STRAT", "exp": 1}, SECRET, "expired"),
    ({"sub": "STRAT"}, SECRET, "invalid JWT"),
    ({"sub": "STRAT", "exp": time.time() + 60}, "whsec_" + "x" * 43, "does not match"),
])
def test_bad_jwts_are_refused(claims: dict[str, Any], key: str, message: str) -> None:
    strategy = make_strategy(secret=SECRET)
    claims = {k: (strategy.id if v == "STRAT" else v) for k, v in claims.items()}
    with pytest.raises(AuthError, match=message) as caught:
        verify_jwt(token(claims, key), cache_of(strategy), time.time(), RULES)
    assert SECRET not in str(caught.value)


def test_alg_none_and_hs256_against_a_public_key_are_refused() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    strategy = make_strategy(secret=SECRET, jwt_public_key=public_pem)
    cache = cache_of(strategy)
    now = time.time()
    signed = token({"sub": strategy.id, "exp": now + 60}, private, "EdDSA")
    assert verify_jwt(signed, cache, now, RULES) == strategy
    # An HS256 token made with the public key as the HMAC secret: classic confusion.
    forged = jwt.encode({"sub": strategy.id, "exp": now + 60}, SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match="not accepted"):
        verify_jwt(forged, cache, now, RULES)
    unsigned = jwt.encode({"sub": strategy.id, "exp": now + 60}, None, algorithm="none")
    with pytest.raises(AuthError):
        verify_jwt(unsigned, cache, now, RULES)


def test_forwarded_for_counts_only_behind_a_trusted_proxy() -> None:
    proxies = networks(["10.0.0.0/8"])
    assert client_address("203.0.113.9", "52.89.214.238", proxies) == "203.0.113.9"
    assert client_address("10.1.1.1", "1.2.3.4, 52.89.214.238", proxies) == "52.89.214.238"
    assert client_address("10.1.1.1", "52.89.214.238, 10.2.2.2", proxies) == "52.89.214.238"
    assert client_address("10.1.1.1", None, proxies) == "10.1.1.1"


def test_allowlists_with_the_tradingview_preset() -> None:
    assert allowed("1.2.3.4", [])
    assert allowed("34.212.75.30", ["tradingview"])
    assert not allowed("1.2.3.4", ["tradingview", "192.168.0.0/16"])
    assert allowed("192.168.7.7", ["tradingview", "192.168.0.0/16"])
    assert not allowed("not-an-ip", ["tradingview"])
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6"):
        make_strategy(ip_allowlist=["300.1.1.1"])
