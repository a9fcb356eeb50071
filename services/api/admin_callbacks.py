"""Admin API: callback endpoints. A tenant's URL told about the events it chose,
signed with its own ``whsec_`` secret (answered once, on create and rotate). A URL
must be https and public: private, loopback, link-local and metadata addresses are
refused here, and again by the dispatcher on every connection."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from contracts import streams
from contracts.identifiers import ACCOUNT_ID, CALLBACK_ID, STRATEGY_ID, TENANT_ID
from libs.callbacks.endpoints import register_callback, rotate_callback_secret
from libs.callbacks.marks import reset_marks
from libs.callbacks.targets import registration_problem
from libs.http.problems import Problem
from libs.registry.models import CallbackEndpoint
from libs.registry.secrets import new_secret
from libs.registry.store import Registry
from libs.registry.views import callback_view
from services.api.admin_auth import require_key, require_visible
from services.api.admin_common import (
    answer_change,
    author,
    body_id,
    context,
    json_body,
    patched,
    rotation_overlap,
    validated,
)
from services.api.admin_records import RecordRoutes

# Set by the server: the id, the secrets, and what the dispatcher records.
SERVER_SET = frozenset({"id", "secret", "previous_secret", "previous_valid_until",
                        "failing", "disabled_reason"})
FIXED = SERVER_SET | {"tenant_id"}

CALLBACKS: RecordRoutes[CallbackEndpoint] = RecordRoutes(
    what="callback", param="callback_id", shape=CALLBACK_ID,
    load_one=lambda reg, callback_id: reg.callback(callback_id),
    load_all=lambda reg: reg.callbacks(), view=callback_view,
    tenant_of=lambda endpoint: endpoint.tenant_id, switch="enabled",
    path="/api/v1/callbacks")


async def _check_target(request: web.Request, url: object) -> None:
    """422 naming ``url`` when it is not a public https address (SSRF)."""
    problem = await registration_problem(str(url), context(request).settings
                                         .callback_allow_loopback)
    if problem is not None:
        raise Problem(422, "invalid_field", f"url: {problem}", field="url")


async def _check_filters(registry: Registry, body: dict[str, Any], tenant_id: str) -> None:
    """Filters name only the tenant's own strategies and accounts."""
    for field, shape, load in (("strategy_ids", STRATEGY_ID, registry.strategy),
                               ("account_ids", ACCOUNT_ID, registry.account)):
        values = body.get(field, [])
        if not isinstance(values, list):
            continue  # the model's validation names it
        for value in values:
            record = await load(body_id(value, field, shape))
            if record is None or record.tenant_id != tenant_id:
                raise Problem(422, "invalid_field", f"{field}: no {shape.name.split()[0]} "
                              f"{value} in tenant {tenant_id}", field=field)


async def create_callback(request: web.Request) -> web.Response:
    """``POST /api/v1/callbacks``: the endpoint and its secret (shown once)."""
    key = await require_key(request, write=True)
    body = await json_body(request)
    ctx = context(request)
    reg = ctx.strategies.registry
    tenant_id = body_id(body.get("tenant_id"), "tenant_id", TENANT_ID)
    require_visible(key, tenant_id, f"tenant {tenant_id}")
    if await reg.tenant(tenant_id) is None:
        raise Problem(404, "not_found", f"no tenant {tenant_id}")
    planted = sorted(SERVER_SET & body.keys())
    if planted:
        raise Problem(422, "invalid_field", f"{planted[0]}: set by the server",
                      field=planted[0])
    endpoint = validated(CallbackEndpoint, {
        **body, "id": f"cb-{uuid.uuid4().hex[:12]}", "secret": new_secret()})
    await _check_target(request, endpoint.url)
    await _check_filters(reg, body, tenant_id)
    await register_callback(ctx.bus, reg, endpoint, ctx.clock)
    return web.json_response({"callback": callback_view(endpoint), "secret": endpoint.secret},
                             status=201)


async def update_callback(request: web.Request) -> web.Response:
    """``PATCH /api/v1/callbacks/{id}``: URL, event types, filters, description,
    ``enabled`` (switching it on clears what the dispatcher recorded)."""
    endpoint, key = await CALLBACKS.visible(request, write=True)
    body = await json_body(request)
    changed = patched(endpoint, body, FIXED)
    if "url" in body:
        await _check_target(request, changed.url)
    await _check_filters(context(request).strategies.registry, body, endpoint.tenant_id)
    if changed.enabled and not endpoint.enabled:
        # A fresh start: the dispatcher's streak and marks are forgotten.
        changed = changed.model_copy(update={"failing": False, "disabled_reason": ""})
        ctx = context(request)
        await reset_marks(await ctx.bus.kv(streams.BUCKET_CALLBACK_HEALTH), endpoint.id)
    return await answer_change(request, endpoint, changed, author(key))


async def rotate_callback(request: web.Request) -> web.Response:
    """``POST /api/v1/callbacks/{id}/rotate`` ``{"overlap_s": 3600}``: a new secret,
    answered once; deliveries are signed with both for the overlap."""
    endpoint, _ = await CALLBACKS.visible(request, write=True)
    overlap = await rotation_overlap(request)
    ctx = context(request)
    rotated = await rotate_callback_secret(ctx.bus, ctx.strategies.registry, endpoint.id,
                                           overlap, ctx.clock)
    if rotated is None:  # removed between the two reads
        raise Problem(404, "not_found", f"no callback {endpoint.id}")
    return web.json_response({"callback": callback_view(rotated), "secret": rotated.secret})


def add_routes(app: web.Application) -> None:
    """Mount the callback endpoint routes."""
    CALLBACKS.mount(app, create_callback, update_callback)
    app.router.add_post("/api/v1/callbacks/{callback_id}/rotate", rotate_callback)
