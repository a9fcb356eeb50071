"""Admin API: the admin keys themselves. A global admin manages every key; a tenant's
admin manages only keys scoped to its tenant. Keys are shown once, at creation."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from contracts.identifiers import API_KEY_ID, TENANT_ID
from libs.http.problems import Problem
from libs.registry.api_keys import ApiKey, Role
from services.api.admin_auth import require_key
from services.api.admin_common import (
    context,
    optional_body,
    path_id,
    validated,
)


class ApiKeyIn(BaseModel):
    """Body of ``POST /api/v1/apikeys``."""

    model_config = ConfigDict(extra="forbid")
    role: Role = "viewer"
    tenant_id: str = Field(default="", max_length=TENANT_ID.max_length,
                           pattern=TENANT_ID.pattern_or_empty)


def key_view(key: ApiKey) -> dict[str, Any]:
    """A key as the API lists it: never its hash."""
    return {"id": key.id, "role": key.role, "tenant_id": key.tenant_id}


async def whoami(request: web.Request) -> web.Response:
    """``GET /api/v1/whoami``: the caller's own key (id, role, tenant), so a client
    such as the console knows whether to offer changes, and the public base URL of the
    webhooks (the console runs on the operator listener, not the public one)."""
    key = await require_key(request)
    return web.json_response({**key_view(key),
                              "webhook_base_url": context(request).settings.api_url})


async def list_keys(request: web.Request) -> web.Response:
    """``GET /api/v1/apikeys``: the keys the caller may manage."""
    caller = await require_key(request, write=True)
    keys = await context(request).api_keys.all()
    return web.json_response([key_view(k) for k in keys
                              if not caller.tenant_id or k.tenant_id == caller.tenant_id])


async def create_key(request: web.Request) -> web.Response:
    """``POST /api/v1/apikeys`` ``{"role", "tenant_id"}``: answers the key once."""
    caller = await require_key(request, write=True)
    body = validated(ApiKeyIn, await optional_body(request))
    ctx = context(request)
    if caller.tenant_id and body.tenant_id != caller.tenant_id:
        raise Problem(403, "forbidden",
                      f"this key can only make keys for tenant {caller.tenant_id}")
    if body.tenant_id and await ctx.strategies.registry.tenant(body.tenant_id) is None:
        raise Problem(422, "invalid_field", f"tenant_id: no tenant {body.tenant_id}",
                      field="tenant_id")
    record, plain = await ctx.api_keys.create(body.role, body.tenant_id)
    return web.json_response({**key_view(record), "key": plain}, status=201)


async def revoke_key(request: web.Request) -> web.Response:
    """``DELETE /api/v1/apikeys/{key_id}``: the key stops working at once."""
    caller = await require_key(request, write=True)
    key_id = path_id(request, "key_id", API_KEY_ID)
    api_keys = context(request).api_keys
    record = await api_keys.get(key_id)
    if record is None or (caller.tenant_id and record.tenant_id != caller.tenant_id):
        raise Problem(404, "not_found", f"no API key {key_id}")
    await api_keys.revoke(key_id)
    return web.json_response({**key_view(record), "revoked": True})


def add_routes(app: web.Application) -> None:
    """Mount the API key routes."""
    app.router.add_get("/api/v1/whoami", whoami)
    app.router.add_get("/api/v1/apikeys", list_keys)
    app.router.add_post("/api/v1/apikeys", create_key)
    app.router.add_delete("/api/v1/apikeys/{key_id}", revoke_key)
