"""Bots' header credentials: ``X-API-Key``, ``Authorization: Bearer <secret>`` or a JWT.

A JWT names its strategy in ``sub`` (id or slug) and must carry ``exp``. It is
signed with the strategy secret (HS256), or — when the strategy has a
``jwt_public_key`` — with the matching private key (RS256, ES256 or EdDSA). The
accepted algorithms follow from the strategy's configuration, never from the
token, so a token cannot pick a weaker one (``none``, or HS256 with a public key).
"""

from __future__ import annotations

from datetime import UTC, datetime

import jwt

from services.ingress.auth import AuthError, header_text
from services.registry.models import Strategy
from services.registry.store import StrategyCache

ASYMMETRIC = ["RS256", "ES256", "EdDSA"]


def header_credential(authorization: str | None, api_key: str | None) -> str | None:
    """The credential a bot put in its headers, if any."""
    if api_key:
        return header_text(api_key).strip()
    if authorization and authorization[:7].lower() == "bearer ":
        return header_text(authorization[7:]).strip()
    return None


def looks_like_jwt(credential: str) -> bool:
    """Three dot-separated parts starting with a JSON header."""
    return credential.count(".") == 2 and credential.startswith("eyJ")


def verify_jwt(credential: str, cache: StrategyCache, now_s: float,
               leeway_s: int) -> Strategy:
    """The strategy a valid JWT is for; AuthError (never echoing the token) otherwise."""
    try:
        header = jwt.get_unverified_header(credential)
        claims = jwt.decode(credential, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AuthError("malformed JWT") from exc
    subject = claims.get("sub")
    strategy = cache.by_id.get(subject) if isinstance(subject, str) else None
    if strategy is None and isinstance(subject, str):
        found = cache.with_slug(subject)
        strategy = found[0] if len(found) == 1 else None
    if strategy is None:
        raise AuthError("the JWT's sub names no known strategy")
    algorithm = header.get("alg")
    if strategy.jwt_public_key:
        allowed, keys = ASYMMETRIC, [strategy.jwt_public_key]
    else:
        allowed = ["HS256"]
        keys = strategy.accepted_secrets(datetime.fromtimestamp(now_s, UTC))
    if algorithm not in allowed:
        raise AuthError(f"JWT algorithm {algorithm!r} is not accepted for this strategy")
    for key in keys:
        try:
            jwt.decode(credential, key, algorithms=[algorithm],
                       options={"require": ["exp", "sub"]}, leeway=leeway_s)
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("the JWT has expired") from exc
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid JWT: {type(exc).__name__}") from exc
        return strategy
    raise AuthError("the JWT's signature does not match")
