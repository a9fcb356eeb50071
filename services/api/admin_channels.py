"""Admin API: a tenant's notification channels, one at a time.

``GET /api/v1/tenants/{tenant_id}/notifications`` lists them (secrets masked);
``PUT …/notifications/{channel_name}`` adds or replaces one; ``DELETE`` removes one.
Unlike ``PATCH /api/v1/tenants/{id}`` (a global admin's), a tenant's own admin keys
may use these: telling the tenant's people is the tenant's business. A masked or
missing secret keeps the channel's stored one. A Discord or Slack URL is judged like
a callback URL (:func:`webhook_target_problem`).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from contracts.identifiers import TENANT_ID
from libs.callbacks.targets import registration_problem
from libs.http.problems import Problem, invalid
from libs.registry.api_keys import ApiKey
from libs.registry.changes import save_change
from libs.registry.models import NotificationChannel, Tenant
from libs.registry.views import MASK, channel_view
from services.api.admin_auth import require_key
from services.api.admin_common import (
    author,
    context,
    json_body,
    path_id,
    registry,
    validated,
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
BASE = "/api/v1/tenants/{tenant_id}/notifications"


async def webhook_target_problem(request: web.Request, before: Tenant,
                                 after: Tenant) -> None:
    """A new or changed Discord/Slack webhook URL is judged like a callback URL (its
    name resolved, every address judged), or a 422 that names the channel, not the
    URL (the URL is the credential). The notifier judges it again at every send."""
    stored = {c.name: c.secret for c in before.notifications}
    allow_loopback = context(request).settings.callback_allow_loopback
    for channel in after.notifications:
        if channel.kind not in ("discord", "slack") or stored.get(channel.name) == \
                channel.secret:
            continue
        problem = await registration_problem(channel.secret, allow_loopback)
        if problem is not None:
            raise Problem(422, "invalid_field",
                          f"notifications: channel {channel.name}: {problem}",
                          field="notifications")


async def _store(request: web.Request, before: Tenant, after: Tenant, key: ApiKey) -> None:
    ctx = context(request)
    await save_change(ctx.bus, ctx.strategies.registry, before, after, ctx.clock, author(key))


async def _tenant(request: web.Request, write: bool) -> tuple[Tenant, ApiKey]:
    key = await require_key(request, write=write)
    tenant_id = path_id(request, "tenant_id", TENANT_ID)
    tenant = await registry(request).tenant(tenant_id)
    if tenant is None or not key.sees(tenant.id):
        raise Problem(404, "not_found", f"no tenant {tenant_id}")
    return tenant, key


def _name(request: web.Request) -> str:
    name = request.match_info["channel_name"]
    if not _NAME.match(name):
        raise Problem(404, "not_found", "no such channel: a channel name is a-z, 0-9, "
                      "- and _ (up to 40)", field="channel_name")
    return name


async def list_channels(request: web.Request) -> web.Response:
    """``GET …/notifications``: the tenant's channels, secrets masked."""
    tenant, _ = await _tenant(request, write=False)
    return web.json_response([channel_view(c) for c in tenant.notifications])


async def put_channel(request: web.Request) -> web.Response:
    """``PUT …/notifications/{channel_name}``: add the channel (201) or replace it (200)."""
    tenant, key = await _tenant(request, write=True)
    name = _name(request)
    body: dict[str, Any] = await json_body(request)
    if body.get("name", name) != name:
        raise Problem(422, "invalid_field", "name: the path names the channel", field="name")
    old = next((c for c in tenant.notifications if c.name == name), None)
    if body.get("secret", MASK) == MASK:
        body["secret"] = old.secret if old is not None else ""
    channel = validated(NotificationChannel, {**body, "name": name})
    try:
        channels = [channel if c.name == name else c for c in tenant.notifications]
        if old is None:
            channels.append(channel)
        after = Tenant.model_validate({**tenant.model_dump(), "notifications": channels})
    except ValidationError as exc:
        raise invalid(exc) from exc
    await webhook_target_problem(request, tenant, after)
    await _store(request, tenant, after, key)
    return web.json_response(channel_view(channel), status=201 if old is None else 200)


async def delete_channel(request: web.Request) -> web.Response:
    """``DELETE …/notifications/{channel_name}``: the channels left."""
    tenant, key = await _tenant(request, write=True)
    name = _name(request)
    left = [c for c in tenant.notifications if c.name != name]
    if len(left) == len(tenant.notifications):
        raise Problem(404, "not_found", f"no channel {name} in tenant {tenant.id}")
    after = tenant.model_copy(update={"notifications": left})
    await _store(request, tenant, after, key)
    return web.json_response([channel_view(c) for c in left])


def add_routes(app: web.Application) -> None:
    """Mount the channel routes."""
    app.router.add_get(BASE, list_channels)
    app.router.add_put(BASE + "/{channel_name}", put_channel)
    app.router.add_delete(BASE + "/{channel_name}", delete_channel)
