"""Ingress credentials: Standard Webhooks signatures, tokens and strategy secrets."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlencode

import pytest

from libs.registry.secrets import fingerprint, lookup_key, new_secret, signing_key
from services.ingress.auth.signatures import (
    AuthError,
    SignedHeaders,
    sign,
    token_matches,
    verify_signature,
)
from tests.factories import NOW, SECRET, make_strategy

BODY = b'{"alertId":"a-1","action":"buy","symbol":"AAPL"}'
NOW_S = 1_714_573_800
TOLERANCE = 300

# The Standard Webhooks reference vector: a receiver library must accept our signature.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def signed(secret: str = SECRET, webhook_id: str = "msg_1", timestamp: int = NOW_S,
           body: bytes = BODY) -> SignedHeaders:
    return SignedHeaders(webhook_id, str(timestamp), sign(secret, webhook_id, timestamp, body))


def auth_error(secret: str, headers: SignedHeaders, body: bytes = BODY,
               now_s: float = NOW_S) -> str:
    with pytest.raises(AuthError) as caught:
        verify_signature(secret, headers, body, now_s, TOLERANCE)
    return str(caught.value)


def test_sign_reproduces_the_standard_webhooks_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE


def test_vector_verifies() -> None:
    headers = SignedHeaders(VECTOR_ID, str(VECTOR_TS), VECTOR_SIGNATURE)

    verify_signature(VECTOR_SECRET, headers, VECTOR_BODY, VECTOR_TS + 10, TOLERANCE)


def test_valid_signature_passes() -> None:
    verify_signature(SECRET, signed(), BODY, NOW_S, TOLERANCE)


def test_tampered_body_fails() -> None:
    message = auth_error(SECRET, signed(), body=BODY.replace(b"buy", b"sell"))

    assert message == "signature does not match"


def test_signature_covers_id_and_timestamp() -> None:
    original = signed()
    other_id = SignedHeaders("msg_2", original.timestamp, original.signature)
    other_ts = SignedHeaders(original.webhook_id, str(NOW_S + 1), original.signature)

    assert auth_error(SECRET, other_id) == "signature does not match"
    assert auth_error(SECRET, other_ts) == "signature does not match"


def test_wrong_secret_fails_without_echoing_either_secret() -> None:
    message = auth_error(SECRET, signed(secret="whsec_b3RoZXItc2VjcmV0"))

    assert message == "signature does not match"
    assert "whsec_" not in message


@pytest.mark.parametrize("offset", [TOLERANCE + 1, -(TOLERANCE + 1), 86_400])
def test_timestamps_beyond_tolerance_fail(offset: int) -> None:
    headers = signed(timestamp=NOW_S + offset)  # correctly signed, but stale or future

    message = auth_error(SECRET, headers)

    assert message == f"webhook-timestamp is more than {TOLERANCE} s away from now"


@pytest.mark.parametrize("offset", [TOLERANCE, -TOLERANCE, 0])
def test_timestamps_within_tolerance_pass(offset: int) -> None:
    verify_signature(SECRET, signed(timestamp=NOW_S + offset), BODY, NOW_S, TOLERANCE)


@pytest.mark.parametrize("timestamp", ["", "1714573800.5", "soon", "0x10"])
def test_non_integer_timestamp_fails(timestamp: str) -> None:
    headers = SignedHeaders("msg_1", timestamp, signed().signature)

    assert auth_error(SECRET, headers) == "webhook-timestamp must be integer Unix seconds"


def test_missing_webhook_id_fails() -> None:
    headers = SignedHeaders("", str(NOW_S), sign(SECRET, "", NOW_S, BODY))

    assert auth_error(SECRET, headers) == "webhook-id header is missing"


def test_any_of_several_signatures_may_match_for_rotation() -> None:
    good = signed().signature
    old = signed(secret="whsec_b2xkLXNlY3JldA").signature

    for header in (f"{old} {good}", f"{good} {old}", f"v1,bm9wZQ== {good}"):
        verify_signature(SECRET, SignedHeaders("msg_1", str(NOW_S), header), BODY, NOW_S,
                         TOLERANCE)


def test_several_signatures_none_matching_fail() -> None:
    header = "v1,bm9wZQ== " + signed(secret="whsec_b2xkLXNlY3JldA").signature

    assert auth_error(SECRET, SignedHeaders("msg_1", str(NOW_S), header)) == (
        "signature does not match"
    )


def test_signature_without_version_prefix_fails() -> None:
    bare = signed().signature.removeprefix("v1,")

    assert auth_error(SECRET, SignedHeaders("msg_1", str(NOW_S), bare)) == (
        "signature does not match"
    )


def test_signed_headers_from_headers() -> None:
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "1714573800",
               "webhook-signature": "v1,abc"}

    assert SignedHeaders.from_headers(headers) == SignedHeaders("msg_1", "1714573800", "v1,abc")
    assert SignedHeaders.from_headers({"webhook-signature": "v1,abc"}) == SignedHeaders(
        "", "", "v1,abc")
    assert SignedHeaders.from_headers({"webhook-id": "msg_1"}) is None


def test_token_matches_only_the_exact_secret() -> None:
    strategy = make_strategy(secret="whsec_abc")

    assert token_matches(strategy, "whsec_abc")
    assert not token_matches(strategy, "whsec_abd")
    assert not token_matches(strategy, "whsec_ab")
    assert not token_matches(strategy, "")
    assert not token_matches(strategy, "whsec_abc ")


# --- secrets --------------------------------------------------------------------------

_SECRET_SHAPE = re.compile(r"whsec_[A-Za-z0-9_-]{43}")


def test_new_secret_is_url_safe_base64_of_32_bytes_without_padding() -> None:
    secrets = {new_secret() for _ in range(64)}

    assert len(secrets) == 64
    for secret in secrets:
        assert _SECRET_SHAPE.fullmatch(secret), secret
        body = secret.removeprefix("whsec_")
        assert base64.urlsafe_b64decode(body + "=") == signing_key(secret)
        assert len(signing_key(secret)) == 32


def test_new_secret_survives_a_query_string() -> None:
    for _ in range(32):
        secret = new_secret()
        query = f"token={secret}"  # pasted without URL encoding

        assert parse_qs(query)["token"] == [secret]
        assert urlencode({"token": secret}) == query


def test_new_secret_signs_and_verifies() -> None:
    secret = new_secret()

    verify_signature(secret, signed(secret=secret), BODY, NOW_S, TOLERANCE)
    assert auth_error(new_secret(), signed(secret=secret)) == "signature does not match"


def test_signing_key_decodes_standard_and_url_safe_base64() -> None:
    raw = bytes([0xFB, 0xFF, 0xBF]) * 11  # encodes to '+', '/' or '-', '_'
    standard = "whsec_" + base64.b64encode(raw).decode()
    url_safe = "whsec_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    assert "+" in standard and "/" in standard
    assert "-" in url_safe and "_" in url_safe.removeprefix("whsec_")
    assert signing_key(standard) == raw
    assert signing_key(url_safe) == raw
    assert sign(standard, "m", 1, b"x") == sign(url_safe, "m", 1, b"x")


def test_signing_key_falls_back_to_the_raw_text() -> None:
    assert signing_key("plain-secret") == b"plain-secret"
    assert signing_key("whsec_not*base64!") == b"whsec_not*base64!"


def test_fingerprint_is_short_stable_and_never_the_secret() -> None:
    secret = new_secret()

    print_ = fingerprint(secret)

    assert re.fullmatch(r"[0-9a-f]{12}", print_)
    assert print_ == fingerprint(secret)
    assert print_ != fingerprint(new_secret())
    assert print_ not in secret
    assert secret.removeprefix("whsec_")[:8] not in print_


def test_lookup_key_differs_from_fingerprint_and_is_deterministic() -> None:
    assert lookup_key(SECRET) == lookup_key(SECRET)
    assert lookup_key(SECRET) != lookup_key(SECRET + "x")
    assert not lookup_key(SECRET).startswith(fingerprint(SECRET))
    assert SECRET not in lookup_key(SECRET)


def test_the_previous_secret_works_until_the_overlap_ends_and_not_at_its_end() -> None:
    ends = NOW + timedelta(hours=1)
    rotated = make_strategy(secret=new_secret(), previous_secret=SECRET,
                            previous_valid_until=ends)

    assert token_matches(rotated, SECRET, ends - timedelta(microseconds=1))
    assert not token_matches(rotated, SECRET, ends)
    assert token_matches(rotated, rotated.secret, ends + timedelta(days=365))
    assert not token_matches(make_strategy(previous_valid_until=ends), "", NOW)
