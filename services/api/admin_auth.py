"""Who may call the admin API: an admin key (``X-API-Key`` / Bearer) or, when
configured, an admin JWT as the bearer; each grants a role and a tenant scope."""

from __future__ import annotations

from aiohttp import web

from libs.http.credentials import header_credential, looks_like_jwt
from libs.http.problems import Problem
from libs.registry.api_keys import ApiKey
from services.api.admin_jwt import AdminJwtError, admin_jwt_enabled, principal_from_jwt
from services.api.context import CONTEXT, ApiContext
from services.api.suspension import READ_METHODS, check_tenant_may_write


async def require_key(request: web.Request, write: bool = False) -> ApiKey:
    """The caller's admin key, or 401; 403 when a viewer key tries to write."""
    ctx: ApiContext = request.app[CONTEXT]
    presented = header_credential(request.headers.get("Authorization"),
                                  request.headers.get("X-API-Key"))
    key: ApiKey | None = None
    if presented and looks_like_jwt(presented) and admin_jwt_enabled(ctx.settings):
        try:
            key = principal_from_jwt(presented, ctx.settings)
        except AdminJwtError as exc:
            raise Problem(401, "unauthorized", str(exc)) from exc
    elif presented:
        key = await ctx.api_keys.verify(presented)
    if key is None:
        raise Problem(401, "unauthorized",
                      "an admin API key (X-API-Key) or admin JWT (Bearer) is required")
    if write and not key.may_write():
        raise Problem(403, "forbidden", "viewer keys can only read")
    if key.tenant_id and request.method not in READ_METHODS:
        # Read on every write, not cached: a suspension holds from the next request.
        check_tenant_may_write(request.method, key,
                               await ctx.strategies.registry.tenant(key.tenant_id))
    return key


def require_visible(key: ApiKey, tenant_id: str, what: str) -> None:
    """404 (never 403: no hint that it exists) for another tenant's record."""
    if not key.sees(tenant_id):
        raise Problem(404, "not_found", f"no {what}")
