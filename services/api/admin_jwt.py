"""Admin API auth by JWT, for operators whose identity provider issues tokens.

Off unless configured: ``TRADEHOOKS_ADMIN_JWT_SECRET`` (HS256, at least 32 bytes) or
``TRADEHOOKS_ADMIN_JWT_PUBLIC_KEY`` (PEM; RS256, ES256 or EdDSA). The token must
carry ``sub``, ``exp``, ``aud`` = ``TRADEHOOKS_ADMIN_JWT_AUDIENCE`` and ``role``
(``admin`` or ``viewer``); an optional ``tenant`` claim scopes it to one tenant,
exactly as a tenant-scoped API key. The algorithms come from the configuration,
never from the token.
"""

from __future__ import annotations

from typing import Any

from libs.registry.api_keys import ApiKey
from libs.runtime.config import Settings

ASYMMETRIC = ["RS256", "ES256", "EdDSA"]
LEEWAY_S = 30


class AdminJwtError(Exception):
    """A presented admin JWT is not valid; the message never echoes the token."""


def admin_jwt_enabled(settings: Settings) -> bool:
    """True when a key to verify admin JWTs is configured."""
    return bool(settings.admin_jwt_secret or settings.admin_jwt_public_key)


def _key_and_algorithms(settings: Settings) -> tuple[Any, list[str]]:
    if settings.admin_jwt_public_key:
        return settings.admin_jwt_public_key, ASYMMETRIC
    return settings.admin_jwt_secret, ["HS256"]


def principal_from_jwt(token: str, settings: Settings) -> ApiKey:
    """The role and tenant scope a valid admin JWT grants, as an :class:`ApiKey`
    whose id is ``jwt:<sub>`` (events name it as the author of changes)."""
    # Imported at the first admin JWT: most deployments use API keys only.
    import jwt

    key, algorithms = _key_and_algorithms(settings)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AdminJwtError("malformed JWT") from exc
    if header.get("alg") not in algorithms:
        raise AdminJwtError(f"JWT algorithm {header.get('alg')!r} is not accepted")
    try:
        claims = jwt.decode(token, key, algorithms=algorithms,
                            audience=settings.admin_jwt_audience, leeway=LEEWAY_S,
                            options={"require": ["exp", "sub", "aud"]})
    except jwt.ExpiredSignatureError as exc:
        raise AdminJwtError("the JWT has expired") from exc
    except jwt.PyJWTError as exc:
        raise AdminJwtError(f"invalid JWT: {type(exc).__name__}") from exc
    role, tenant = claims.get("role"), claims.get("tenant", "")
    if role not in ("admin", "viewer"):
        raise AdminJwtError("the JWT's role claim must be admin or viewer")
    if not isinstance(tenant, str):
        raise AdminJwtError("the JWT's tenant claim must be a string")
    return ApiKey(id=f"jwt:{claims['sub']}", role=role, tenant_id=tenant, key_hash="")
