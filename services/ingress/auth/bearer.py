"""Bots' header credentials: ``X-API-Key``, ``Authorization: Bearer <secret>`` or a JWT.

A JWT names its strategy in ``sub``: the strategy's id (unique everywhere), its
tenant-qualified slug ``<tenant>/<slug>``, or — for tokens made before slugs were
qualified — its bare slug. It is signed with the strategy secret (HS256), or, when
the strategy has a ``jwt_public_key``, with the matching private key (RS256, ES256
or EdDSA). The accepted algorithms follow from the strategy's configuration, never
from the token, so a token cannot pick a weaker one (``none``, or HS256 with a
public key).

A ``sub`` may match several strategies (a bare slug that two tenants use, an id that
is also another tenant's slug): the one whose key verifies the signature is meant,
so another tenant creating a strategy with the same slug cannot break a bot. If
several verify (two strategies sharing a public key), the token is refused: it must
then name the id or ``<tenant>/<slug>``. Posted to a strategy's URL, the token must
name that strategy. The times are judged by :mod:`services.ingress.auth.jwt_rules`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.identifiers import split_tenant_slug
from libs.registry.cache import StrategyCache
from libs.registry.models import Strategy
from services.ingress.auth.jwt_rules import JwtRules, time_problem
from services.ingress.auth.signatures import AuthError

ASYMMETRIC = ["RS256", "ES256", "EdDSA"]
# Times are judged by jwt_rules on ingress's clock; PyJWT checks the signature and
# that exp and sub are present.
_DECODE_OPTIONS: Any = {"require": ["exp", "sub"], "verify_exp": False,
                        "verify_iat": False, "verify_nbf": False}



def unverified_subject(credential: str) -> str | None:
    """The ``sub`` a JWT claims, unverified (to count a failure or find a strategy
    registered a moment ago), or None."""
    # PyJWT is imported when a JWT arrives: most alerts carry none (a start saves
    # about 20 ms of CPU).
    import jwt

    try:
        subject = jwt.decode(credential, options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
        return None
    return subject if isinstance(subject, str) and subject else None


def subject_strategies(cache: StrategyCache, subject: str) -> list[Strategy]:
    """Every strategy a ``sub`` can name: by id, by ``<tenant>/<slug>``, by slug."""
    found: dict[str, Strategy] = {}
    by_id = cache.by_id.get(subject)
    if by_id is not None:
        found[by_id.id] = by_id
    pair = split_tenant_slug(subject)
    at = cache.at(*pair) if pair is not None else None
    if at is not None:
        found[at.id] = at
    for strategy in cache.with_slug(subject):
        found[strategy.id] = strategy
    return list(found.values())


def _keys(strategy: Strategy, now_s: float) -> tuple[list[str], list[Any]]:
    """The algorithms and keys that may sign a JWT of ``strategy`` now."""
    if strategy.jwt_public_key:
        return ASYMMETRIC, [strategy.jwt_public_key]
    return ["HS256"], list(strategy.accepted_secrets(datetime.fromtimestamp(now_s, UTC)))


def _verified_claims(credential: str, algorithm: object, strategy: Strategy,
                     now_s: float) -> dict[str, Any] | None:
    """The claims if a key of ``strategy`` signed the token, None if none did;
    AuthError when one did but the token is unacceptable (or the algorithm is)."""
    allowed, keys = _keys(strategy, now_s)
    if not isinstance(algorithm, str) or algorithm not in allowed:
        raise AuthError(f"JWT algorithm {algorithm!r} is not accepted for this strategy")
    import jwt  # as in unverified_subject

    for key in keys:
        try:
            claims: dict[str, Any] = jwt.decode(credential, key, algorithms=[algorithm],
                                                options=_DECODE_OPTIONS)
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid JWT: {type(exc).__name__}") from exc
        return claims
    return None


def verify_jwt(credential: str, cache: StrategyCache, now_s: float, rules: JwtRules,
               at_url: list[Strategy] | None = None) -> Strategy:
    """The strategy a valid JWT is for; AuthError (never echoing the token) otherwise.

    ``at_url``: the strategies the request's URL can mean (None: the universal URL).
    """
    import jwt  # as in unverified_subject

    try:
        header = jwt.get_unverified_header(credential)
    except jwt.PyJWTError as exc:
        raise AuthError("malformed JWT") from exc
    subject = unverified_subject(credential)
    if subject is None:
        raise AuthError("malformed JWT, or no sub naming its strategy")
    candidates = subject_strategies(cache, subject)
    if not candidates:
        raise AuthError("the JWT's sub names no known strategy")
    if at_url is not None:
        here = {s.id for s in at_url}
        candidates = [s for s in candidates if s.id in here]
        if not candidates:
            raise AuthError("the JWT's sub names another strategy than this URL's")
    verified: list[tuple[Strategy, dict[str, Any]]] = []
    refusal: AuthError | None = None
    for strategy in candidates:
        try:
            claims = _verified_claims(credential, header.get("alg"), strategy, now_s)
        except AuthError as exc:
            refusal = refusal or exc
            continue
        if claims is not None:
            verified.append((strategy, claims))
    if len(verified) > 1:
        raise AuthError("the JWT verifies for several strategies: name the strategy id "
                        "or <tenant>/<slug> in sub")
    if not verified:
        raise refusal or AuthError("the JWT's signature does not match")
    strategy, claims = verified[0]
    problem = time_problem(claims, now_s, rules)
    if problem is not None:
        raise AuthError(problem)
    return strategy
