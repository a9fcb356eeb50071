"""Who may call the admin API: an ``X-API-Key`` / Bearer admin key with a role."""

from __future__ import annotations

from aiohttp import web

from services.ingress.bearer import header_credential
from services.ingress.context import IngressContext
from services.ingress.problems import Problem
from services.registry.api_keys import ApiKey


async def require_key(request: web.Request, write: bool = False) -> ApiKey:
    """The caller's admin key, or 401; 403 when a viewer key tries to write."""
    ctx: IngressContext = request.app["ctx"]
    presented = header_credential(request.headers.get("Authorization"),
                                  request.headers.get("X-API-Key"))
    key = await ctx.api_keys.verify(presented) if presented else None
    if key is None:
        raise Problem(401, "unauthorized", "an admin API key is required (X-API-Key)")
    if write and not key.may_write():
        raise Problem(403, "forbidden", "viewer keys can only read")
    return key


def require_visible(key: ApiKey, tenant_id: str, what: str) -> None:
    """404 (never 403: no hint that it exists) for another tenant's record."""
    if not key.sees(tenant_id):
        raise Problem(404, "not_found", f"no {what}")
