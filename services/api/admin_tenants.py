"""Admin API: tenants. Creating, changing and disabling one needs a global admin key
(a tenant's own admins cannot raise its rate limits or undo its suspension)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from contracts.identifiers import TENANT_ID
from libs.http.problems import Problem
from libs.registry.models import Name, RateLimits, Tenant, slugify
from libs.registry.provisioning import register_tenant
from libs.registry.views import MASK, tenant_view
from services.api.admin_channels import webhook_target_problem
from services.api.admin_common import (
    answer_change,
    author,
    context,
    global_admin,
    json_body,
    patched,
    registry,
    validated,
)
from services.api.admin_records import RecordRoutes

FIXED = frozenset({"id"})


class TenantIn(BaseModel):
    """Body of ``POST /api/v1/tenants``."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    id: str = Field(default="", max_length=TENANT_ID.max_length,
                    pattern=TENANT_ID.pattern_or_empty)
    rate_limits: RateLimits | None = None


TENANTS: RecordRoutes[Tenant] = RecordRoutes(
    what="tenant", param="tenant_id", shape=TENANT_ID, path="/api/v1/tenants",
    load_one=lambda reg, tenant_id: reg.tenant(tenant_id), load_all=lambda reg: reg.tenants(),
    view=tenant_view, tenant_of=lambda tenant: tenant.id, switch="active",
    global_writes=True)


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


def kept_channel_secrets(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with each notification channel whose secret is the view's mask given
    back its stored secret (same name), so a GET's answer can be sent back changed."""
    channels = body.get("notifications")
    if not isinstance(channels, list):
        return body
    stored = {channel.name: channel.secret for channel in tenant.notifications}
    kept = [{**item, "secret": stored.get(str(item.get("name")), "")}
            if isinstance(item, dict) and item.get("secret") == MASK else item
            for item in channels]
    return {**body, "notifications": kept}


async def update_tenant(request: web.Request) -> web.Response:
    """``PATCH /api/v1/tenants/{id}``: name, rate limits, ``active``,
    notification channels. Disabling one
    refuses every webhook of the tenant at once and fails its queued signals."""
    tenant, key = await TENANTS.visible(request, write=True)
    updated = patched(tenant, kept_channel_secrets(tenant, await json_body(request)), FIXED)
    await webhook_target_problem(request, tenant, updated)
    return await answer_change(request, tenant, updated, author(key))


def add_routes(app: web.Application) -> None:
    """Mount the tenant routes."""
    TENANTS.mount(app, create_tenant, update_tenant)
