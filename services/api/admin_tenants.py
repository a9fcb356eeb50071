"""Admin API: tenants. Creating, changing and disabling one needs a global admin key
(a tenant's own admins cannot raise its rate limits or undo its suspension)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from contracts.identifiers import TENANT_ID
from libs.http.problems import Problem
from libs.registry.models import Name, RateLimits, Tenant, slugify
from libs.registry.provisioning import register_tenant
from libs.registry.views import tenant_view
from services.api.admin_auth import require_key, require_visible
from services.api.admin_common import (
    answer_change,
    author,
    context,
    global_admin,
    json_body,
    patched,
    path_id,
    registry,
    validated,
)

FIXED = frozenset({"id"})


class TenantIn(BaseModel):
    """Body of ``POST /api/v1/tenants``."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    id: str = Field(default="", max_length=TENANT_ID.max_length,
                    pattern=TENANT_ID.pattern_or_empty)
    rate_limits: RateLimits | None = None


async def _visible_tenant(request: web.Request) -> Tenant:
    key = await require_key(request)
    tenant_id = path_id(request, "tenant_id", TENANT_ID)
    require_visible(key, tenant_id, f"tenant {tenant_id}")
    tenant = await registry(request).tenant(tenant_id)
    if tenant is None:
        raise Problem(404, "not_found", f"no tenant {tenant_id}")
    return tenant


async def create_tenant(request: web.Request) -> web.Response:
    """``POST /api/v1/tenants``."""
    await global_admin(request)
    body = validated(TenantIn, await json_body(request))
    tenant = Tenant(id=body.id or slugify(body.name), name=body.name,
                    rate_limits=body.rate_limits)
    if await registry(request).tenant(tenant.id) is not None:
        raise Problem(409, "exists", f"tenant {tenant.id} exists")
    ctx = context(request)
    await register_tenant(ctx.bus, ctx.strategies.registry, tenant, ctx.clock)
    return web.json_response(tenant_view(tenant), status=201)


async def list_tenants(request: web.Request) -> web.Response:
    """``GET /api/v1/tenants``: the tenants the key sees."""
    key = await require_key(request)
    tenants = [t for t in await registry(request).tenants() if key.sees(t.id)]
    return web.json_response([tenant_view(t) for t in tenants])


async def get_tenant(request: web.Request) -> web.Response:
    """``GET /api/v1/tenants/{id}``."""
    return web.json_response(tenant_view(await _visible_tenant(request)))


async def update_tenant(request: web.Request) -> web.Response:
    """``PATCH /api/v1/tenants/{id}``: name, rate limits, ``active``."""
    key = await global_admin(request)
    tenant = await _visible_tenant(request)
    updated = patched(tenant, await json_body(request), FIXED)
    return await answer_change(request, tenant, updated, author(key))


async def disable_tenant(request: web.Request) -> web.Response:
    """``POST /api/v1/tenants/{id}/disable``: every webhook of the tenant is refused
    at once and its queued signals fail; ``PATCH {"active": true}`` undoes it."""
    key = await global_admin(request)
    tenant = await _visible_tenant(request)
    return await answer_change(request, tenant, tenant.model_copy(update={"active": False}),
                               author(key))


def add_routes(app: web.Application) -> None:
    """Mount the tenant routes."""
    app.router.add_post("/api/v1/tenants", create_tenant)
    app.router.add_get("/api/v1/tenants", list_tenants)
    app.router.add_get("/api/v1/tenants/{tenant_id}", get_tenant)
    app.router.add_patch("/api/v1/tenants/{tenant_id}", update_tenant)
    app.router.add_post("/api/v1/tenants/{tenant_id}/disable", disable_tenant)
