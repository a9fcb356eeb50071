"""Admin JWTs: role and tenant come from the claims; algorithm, audience, expiry and
signature are enforced by the configuration, never chosen by the token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from libs.runtime.config import Settings
from services.api.admin_jwt import AdminJwtError, admin_jwt_enabled, principal_from_jwt

SECRET = "an-admin-jwt-secret-of-at-least-32-bytes!"
HS = Settings(admin_jwt_secret=SECRET)


def token(key: Any = SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    body = {"sub": "ops@acme", "role": "admin", "aud": "tradehooks-admin",
            "exp": int(time.time()) + 300, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key,
                      algorithm=algorithm)


def test_a_valid_token_grants_its_role_and_tenant() -> None:
    principal = principal_from_jwt(token(role="viewer", tenant="acme"), HS)
    assert (principal.id, principal.role, principal.tenant_id) == \
        ("jwt:ops@acme", "viewer", "acme")
    assert not principal.may_write()
    assert principal.sees("acme") and not principal.sees("beta")


EXPIRED = object()  # exp an hour ago, computed when the test runs


def none_signed() -> str:
    return jwt.encode({"sub": "x", "role": "admin", "aud": "tradehooks-admin",
                       "exp": int(time.time()) + 60}, None, algorithm="none")


# Tokens are made when each test runs, not at collection: a long suite must not
# turn every case into "expired".
@pytest.mark.parametrize(("claims", "message"), [
    ({"key": "another-secret-that-is-long-enough-too!!"}, "InvalidSignatureError"),
    ({"exp": EXPIRED}, "expired"),
    ({"aud": "someone-else"}, "InvalidAudienceError"),
    ({"aud": None}, "MissingRequiredClaimError"),
    ({"role": "root"}, "role claim"),
    ({"role": None}, "role claim"),
    ({"tenant": 7}, "tenant claim"),
    ("none", "algorithm"),
    ("malformed", "malformed"),
])
def test_forged_or_wrong_tokens_are_refused(claims: Any, message: str) -> None:
    if claims == "none":
        bad = none_signed()
    elif claims == "malformed":
        bad = "eyJhbGciOi.not-a.jwt"
    else:
        fields = dict(claims)
        if fields.get("exp") is EXPIRED:
            fields["exp"] = int(time.time()) - 3600
        bad = token(**fields)
    with pytest.raises(AdminJwtError, match=message) as refused:
        principal_from_jwt(bad, HS)
    assert SECRET not in str(refused.value)


def test_asymmetric_keys_refuse_hs256_signed_with_the_public_key() -> None:
    private = Ed25519PrivateKey.generate()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    settings = Settings(admin_jwt_public_key=public_pem)
    assert principal_from_jwt(token(key=private, algorithm="EdDSA"), settings).role == "admin"
    # The classic confusion attack: HMAC keyed with the public key.
    # (PyJWT refuses to make one, so it is built by hand.)
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(
        b'{"sub":"x","role":"admin","aud":"tradehooks-admin","exp":9999999999}')
    mac = hmac.new(public_pem.encode(), signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + b64(mac)).decode()
    with pytest.raises(AdminJwtError, match="algorithm"):
        principal_from_jwt(forged, settings)


def test_off_unless_configured_and_short_secrets_are_refused() -> None:
    assert not admin_jwt_enabled(Settings())
    assert admin_jwt_enabled(HS)
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(admin_jwt_secret="short")
