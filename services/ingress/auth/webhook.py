"""The one entry point of webhook authentication: which strategy a request is for,
and by which credential."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from contracts.identifiers import split_tenant_slug
from libs.http.credentials import header_credential, looks_like_jwt
from libs.http.problems import Problem
from libs.registry.models import Strategy
from services.ingress.auth.bearer import unverified_subject, verify_jwt
from services.ingress.auth.failures import aimed_at
from services.ingress.auth.jwt_rules import JwtRules
from services.ingress.auth.routing import authenticate
from services.ingress.auth.signatures import AuthError, SignedHeaders
from services.ingress.auth.targets import UrlTarget, ambiguous

if TYPE_CHECKING:  # the context holds this package's failure counter
    from services.ingress.context import IngressContext


async def authenticate_webhook(ctx: IngressContext, request: web.Request,
                               payload: dict[str, Any], raw: bytes,
                               source: str) -> tuple[Strategy, str]:
    """The strategy and auth mode (``token``, ``hmac``, ``jwt``) of a webhook request.

    401 for a missing or wrong credential, or 409 for a legacy URL whose slug several
    tenants use when the credential matched none of them; every refusal is counted
    against the strategy it was aimed at (:mod:`services.ingress.auth.failures`).
    """
    target = UrlTarget.of(request.match_info)
    header_token = header_credential(request.headers.get("Authorization"),
                                     request.headers.get("X-API-Key"))
    jwt_token = header_token if header_token and looks_like_jwt(header_token) else None
    try:
        return await _authenticated(ctx, request, target, payload, raw, header_token)
    except Problem:
        subject = unverified_subject(jwt_token) if jwt_token else None
        await ctx.auth_alerts.record(
            aimed_at(ctx.strategies, target.strategies(ctx.strategies),
                     payload.get("strategy"), subject), source)
        raise


async def _authenticated(ctx: IngressContext, request: web.Request, target: UrlTarget,
                         payload: dict[str, Any], raw: bytes,
                         header_token: str | None) -> tuple[Strategy, str]:
    """The strategy and auth mode of the request; 401, or 409 for a legacy URL whose
    slug several tenants use when the credential matched none of them.

    On a miss the registry's indexes are asked directly: a strategy registered a
    moment ago may not have reached this instance's cache yet.
    """
    query_token = request.query.get("token")
    tolerance = ctx.settings.signature_tolerance_s
    rules = JwtRules(ctx.settings.jwt_leeway_s, ctx.settings.jwt_max_lifetime_s)
    is_jwt = bool(header_token and looks_like_jwt(header_token))

    def attempt() -> tuple[Strategy, str]:
        now_s = ctx.clock.now().timestamp()
        at_url = target.strategies(ctx.strategies)
        if header_token and is_jwt:
            return verify_jwt(header_token, ctx.strategies, now_s, rules, at_url), "jwt"
        return authenticate(ctx.strategies, at_url, payload, query_token,
                            SignedHeaders.from_headers(request.headers), raw, now_s,
                            tolerance, header_token)

    try:
        try:
            return attempt()
        except AuthError:
            body_token, name = payload.get("token"), payload.get("strategy")
            token = None if is_jwt else header_token or query_token or (
                body_token if isinstance(body_token, str) else None)
            subject = unverified_subject(header_token) if header_token and is_jwt else None
            qualified = split_tenant_slug(subject) if subject else None
            slug = target.slug or (qualified[1] if qualified else subject)
            if not await ctx.strategies.fetch_missing(
                    slug, token, name if isinstance(name, str) else None,
                    strategy_id=subject):
                raise
            return attempt()
    except AuthError as exc:
        conflict = ambiguous(target, target.strategies(ctx.strategies))
        if conflict is not None:
            raise conflict from exc
        raise Problem(401, "unauthorized", str(exc)) from exc
