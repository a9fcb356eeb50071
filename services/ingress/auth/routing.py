"""Which strategy an alert is for, decided together with its credential."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from libs.registry.cache import StrategyCache
from libs.registry.models import Strategy
from libs.registry.secrets import lookup_key
from services.ingress.auth.signatures import (
    AuthError,
    SignedHeaders,
    token_matches,
    verify_signature,
)


def authenticate(
    cache: StrategyCache,
    at_url: list[Strategy] | None,
    payload: dict[str, Any],
    query_token: str | None,
    signed: SignedHeaders | None,
    raw_body: bytes,
    now_s: float,
    tolerance_s: int,
    header_token: str | None = None,
) -> tuple[Strategy, str]:
    """Return the strategy and the auth mode used, or raise AuthError.

    ``at_url``: the strategies the request's URL can mean (see
    :mod:`services.ingress.auth.targets`), or None for the universal URL, which routes by
    the token, or by the body's ``strategy`` field for signed requests. A credential
    is only checked against those strategies: a secret of another strategy fails.
    ``header_token`` is the secret sent by a bot as ``X-API-Key`` / ``Authorization:
    Bearer``.
    """
    body_token = payload.get("token")
    token = header_token or query_token or (body_token if isinstance(body_token, str)
                                            else None)
    mode = "api_key" if header_token else "token"
    now = datetime.fromtimestamp(now_s, UTC)
    if signed is not None:
        candidates = _candidates(cache, at_url, payload)
        for strategy in candidates:
            for secret in strategy.accepted_secrets(now):
                try:
                    verify_signature(secret, signed, raw_body, now_s, tolerance_s)
                except AuthError:
                    continue
                return strategy, "hmac"
        if not candidates:
            raise AuthError("signed requests must name the strategy (URL slug or "
                            "'strategy' field)")
        # Re-run against the first candidate to give the precise reason.
        verify_signature(candidates[0].secret, signed, raw_body, now_s, tolerance_s)
        raise AuthError("signature does not match")
    if not token:
        raise AuthError("missing credentials: send the strategy secret as 'token' in the "
                        "body or ?token=, or sign the request")
    if at_url is not None:
        # Secrets are unique: at most one strategy of the URL's can match.
        for strategy in at_url:
            if token_matches(strategy, token, now):
                return strategy, mode
        raise AuthError("unknown strategy or wrong token")
    found = cache.by_token.get(lookup_key(token))
    if found is None or not token_matches(found, token, now):
        raise AuthError("unknown strategy or wrong token")
    return found, mode


def _candidates(cache: StrategyCache, at_url: list[Strategy] | None,
                payload: dict[str, Any]) -> list[Strategy]:
    if at_url is not None:
        return at_url
    name = payload.get("strategy")
    return cache.with_name(name) if isinstance(name, str) and name else []
