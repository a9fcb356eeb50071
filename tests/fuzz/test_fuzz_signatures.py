"""Credential checks: any header, token or JWT in -> a strategy or an AuthError.

Header values are drawn with lone surrogates too, because aiohttp hands undecodable
header bytes over as surrogate escapes (``X-API-Key: \\xff`` arrives as ``'\\udcff'``).
"""

from __future__ import annotations

from typing import Any, cast

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from fuzz.alerts import JSON_VALUES, SENTINEL_SECRET
from hypothesis import assume, example, given
from hypothesis import strategies as st

from libs.http.credentials import header_credential, looks_like_jwt
from libs.registry.cache import StrategyCache
from libs.registry.models import Strategy
from services.ingress.auth.bearer import verify_jwt
from services.ingress.auth.jwt_rules import JwtRules
from services.ingress.auth.routing import authenticate
from services.ingress.auth.signatures import (
    AuthError,
    SignedHeaders,
    sign,
    token_matches,
    verify_signature,
)
from tests.factories import make_strategy

NOW_S = 1_714_573_800.0
TOLERANCE_S = 300
SECRET = SENTINEL_SECRET
STRATEGY = make_strategy(secret=SECRET)
# Any text, including the lone surrogates aiohttp uses for undecodable header bytes.
HEADER_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40) | \
    st.sampled_from(["v1,", "v1," + "A" * 44, "\udcff\udcfe", "1" + "0" * 400,
                     "\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660",
                     " 1714573800", "1_714_573_800", "+1714573800", "-1", "1e9"])


def cache_of(*strategies: Strategy) -> StrategyCache:
    cache = StrategyCache(cast(Any, None))  # lookups only: no registry needed
    cache.by_id = {s.id: s for s in strategies}
    return cache


def assert_refusal(exc: AuthError) -> None:
    assert str(exc)
    assert SECRET not in str(exc)


# --- Standard Webhooks HMAC -------------------------------------------------------------


@given(HEADER_TEXT, HEADER_TEXT, HEADER_TEXT, st.binary(max_size=100))
# Crashed before the fix: 400 digits overflowed the float comparison with the clock.
@example("msg_1", "1" + "0" * 400, "v1,x", b"")
# Crashed before the fix: undecodable header bytes made str.encode() raise.
@example("msg_\udcff", "1714573800", "v1,x", b"")
@example("msg_1", "1714573800", "v1,\udcff", b"")
@example("msg_1", "\u0661\u0667\u0661\u0664\u0665\u0667\u0663\u0668\u0660\u0660", "v1,x", b"")
def test_any_signature_headers_verify_or_raise_auth_error(webhook_id: str, timestamp: str,
                                                          signature: str, body: bytes) -> None:
    signed = SignedHeaders.from_headers({"webhook-id": webhook_id,
                                         "webhook-timestamp": timestamp,
                                         "webhook-signature": signature})
    assert signed is not None
    try:
        verify_signature(SECRET, signed, body, NOW_S, TOLERANCE_S)
    except AuthError as exc:
        assert_refusal(exc)
    else:  # only a real signature can pass, and a random one is never real
        raise AssertionError("a random signature was accepted")


@given(st.from_regex(r"\Amsg_[A-Za-z0-9]{1,40}\Z"), st.integers(-TOLERANCE_S, TOLERANCE_S),
       st.binary(max_size=200), st.lists(HEADER_TEXT, max_size=3), st.data())
def test_a_real_signature_verifies_and_any_change_breaks_it(
        webhook_id: str, skew: int, body: bytes, others: list[str], data: st.DataObject
) -> None:
    timestamp = int(NOW_S) + skew
    good = sign(SECRET, webhook_id, timestamp, body)
    # Rotation: several space-separated signatures, any match is enough.
    header = " ".join([*[o for o in others if " " not in o], good])
    signed = SignedHeaders(webhook_id, str(timestamp), header)
    verify_signature(SECRET, signed, body, NOW_S, TOLERANCE_S)

    tampered = bytearray(body + b"x")
    index = data.draw(st.integers(0, len(tampered) - 1))
    tampered[index] ^= 1 + data.draw(st.integers(0, 254))
    for changed in (
        (SignedHeaders(webhook_id, str(timestamp), good), bytes(tampered)),
        (SignedHeaders(webhook_id + "x", str(timestamp), good), body),
        (SignedHeaders(webhook_id, str(timestamp + 1), good), body),
    ):
        try:
            verify_signature(SECRET, changed[0], changed[1], NOW_S, TOLERANCE_S)
        except AuthError as exc:
            assert_refusal(exc)
        else:
            raise AssertionError("a changed request kept its signature")


def test_a_non_ascii_candidate_beside_the_real_signature_is_skipped() -> None:
    """Found by hypothesis: a lone surrogate among the candidates raised
    UnicodeEncodeError before the real signature after it was compared."""
    timestamp = int(NOW_S)
    good = sign(SECRET, "msg_0", timestamp, b"")
    verify_signature(SECRET, SignedHeaders("msg_0", str(timestamp), "\ud800 " + good), b"",
                     NOW_S, TOLERANCE_S)


def test_timestamps_must_be_plain_digits() -> None:
    timestamp = int(NOW_S)
    for spelled in (f" {timestamp}", f"+{timestamp}", f"{timestamp:_}", "0" * 20):
        signed = SignedHeaders("msg_1", spelled, sign(SECRET, "msg_1", timestamp, b""))
        try:
            verify_signature(SECRET, signed, b"", NOW_S, TOLERANCE_S)
        except AuthError as exc:
            assert "Unix seconds" in str(exc)
        else:
            raise AssertionError(f"timestamp {spelled!r} was accepted")


# --- tokens and header credentials ------------------------------------------------------


@given(st.one_of(st.none(), HEADER_TEXT), st.one_of(st.none(), HEADER_TEXT))
@example("Bearer \udcff", None)
@example(None, "key\udcff")
def test_header_credentials_are_always_encodable(authorization: str | None,
                                                 api_key: str | None) -> None:
    credential = header_credential(authorization, api_key)

    if credential is not None:
        credential.encode()  # what the token index and HMAC comparison do
        assert not token_matches(STRATEGY, credential) or credential == SECRET


@given(HEADER_TEXT)
@example("\udcff")
def test_authentication_with_any_header_token_answers_or_refuses(raw: str) -> None:
    token = header_credential(None, raw)
    cache = cache_of(STRATEGY)
    for slug in (None, STRATEGY.slug, "unknown"):
        try:
            at_url = None if slug is None else cache.with_slug(slug)
            strategy, mode = authenticate(cache, at_url, {}, None, None, b"", NOW_S,
                                          TOLERANCE_S, token)
        except AuthError as exc:
            assert_refusal(exc)
        else:
            assert token == SECRET and (strategy, mode) == (STRATEGY, "api_key")


@given(st.dictionaries(st.sampled_from(["token", "strategy", "symbol"]), JSON_VALUES),
       st.one_of(st.none(), st.text(max_size=30)))
def test_authentication_with_any_body_and_query_token_answers_or_refuses(
        payload: dict[str, Any], query_token: str | None) -> None:
    cache = cache_of(STRATEGY)
    try:
        authenticate(cache, None, payload, query_token, None, b"", NOW_S, TOLERANCE_S)
    except AuthError as exc:
        assert_refusal(exc)
    else:
        raise AssertionError("a random token was accepted")


# HS512 is drawn only to be refused; PyJWT warns about its key length while signing.
jwt_warnings = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

# --- JWTs -------------------------------------------------------------------------------

PRIVATE_KEY = ed25519.Ed25519PrivateKey.generate()
PUBLIC_PEM = PRIVATE_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
EDDSA_STRATEGY = make_strategy(id="strat-2", slug="ed-bot", secret="whsec_" + "e" * 43,
                               jwt_public_key=PUBLIC_PEM)
RULES = JwtRules(leeway_s=5)
CLAIM_VALUES = st.one_of(JSON_VALUES, st.floats(), st.sampled_from(
    [NOW_S + 60, NOW_S - 60, 2**63, -(2**63), "tomorrow", [], {}]))


@given(st.one_of(HEADER_TEXT, st.from_regex(r"\AeyJ[A-Za-z0-9_=-]{0,30}\.[A-Za-z0-9_=-]{0,30}"
                                             r"\.[A-Za-z0-9_=-]{0,30}\Z")))
@example("eyJ.eyJ.")
@example("eyJhbGciOiJub25lIn0.eyJzdWIiOiJzdHJhdC0xIn0.")  # alg "none"
def test_any_bearer_string_is_a_strategy_or_auth_error(credential: str) -> None:
    token = header_credential("Bearer " + credential, None) or ""
    try:
        verify_jwt(token, cache_of(STRATEGY, EDDSA_STRATEGY), NOW_S, RULES)
    except AuthError as exc:
        assert_refusal(exc)
    else:
        raise AssertionError("an unsigned bearer string was accepted")


@given(st.dictionaries(st.sampled_from(["exp", "nbf", "iat", "aud", "iss", "jti", "x"]),
                       CLAIM_VALUES, max_size=4),
       st.sampled_from([STRATEGY.id, STRATEGY.slug, EDDSA_STRATEGY.id, "nobody"]),
       st.sampled_from(["HS256", "EdDSA", "HS512"]),
       st.dictionaries(st.sampled_from(["kid", "typ", "cty", "crit"]), JSON_VALUES,
                       max_size=2))
# Validly signed claims PyJWT cannot read (iat: Infinity, nbf: a list, exp: NaN)
# must end as an invalid-token 401, never as another exception.
@example({"exp": NOW_S + 60, "iat": float("inf")}, STRATEGY.id, "HS256", {})
@example({"exp": NOW_S + 60, "nbf": []}, STRATEGY.id, "HS256", {})
@example({"exp": float("nan")}, STRATEGY.id, "HS256", {})
@jwt_warnings
def test_signed_jwts_with_any_claims_are_a_strategy_or_auth_error(
        claims: dict[str, Any], subject: str, algorithm: str, headers: dict[str, Any]
) -> None:
    key: Any = PRIVATE_KEY if algorithm == "EdDSA" else SECRET
    try:
        token: str | None = jwt.encode({**claims, "sub": subject}, key, algorithm=algorithm,
                                       headers=headers)
    except (TypeError, ValueError, jwt.PyJWTError):
        token = None
    # PyJWT itself cannot produce this token: not an example (hypothesis counts these,
    # and fails the test if too few examples are left).
    assume(token is not None)
    assert token is not None and looks_like_jwt(token)
    try:
        found = verify_jwt(token, cache_of(STRATEGY, EDDSA_STRATEGY), NOW_S, RULES)
    except AuthError as exc:
        assert_refusal(exc)
    else:
        assert found.id == ("strat-2" if algorithm == "EdDSA" else STRATEGY.id)
        assert claims.get("exp") is not None
