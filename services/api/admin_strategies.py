"""Admin API: strategies. Creating one answers its webhook URL, its secret (once) and
a ready TradingView message; every change reaches every ingress at once."""

from __future__ import annotations

import uuid

from aiohttp import web

from contracts.identifiers import ACCOUNT_ID, STRATEGY_ID, TENANT_ID
from contracts.webhook_urls import webhook_url
from libs.http.problems import Problem
from libs.registry.models import Strategy
from libs.registry.operations import rotate_secret
from libs.registry.provisioning import register_strategy, tradingview_message, unique_slug
from libs.registry.secrets import new_secret
from libs.registry.store import Registry
from libs.registry.views import strategy_view
from services.api import account_history
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
from services.api.suspension import switched

# Slugs are fixed once made (URLs were handed out); secrets change only by rotation.
FIXED = frozenset({"id", "tenant_id", "slug", "secret", "previous_secret",
                   "previous_valid_until", "suspended"})
# Set by the server on create: a caller may not choose (or plant an old) secret, nor
# the mark of a global admin's suspension.
SERVER_SET = frozenset({"id", "slug", "secret", "previous_secret", "previous_valid_until",
                        "suspended"})


async def _check_account(registry: Registry, account_id: object, tenant_id: str) -> None:
    """Never bind a strategy to an account of another tenant (or none)."""
    account = await registry.account(body_id(account_id, "account_id", ACCOUNT_ID))
    if account is None or account.tenant_id != tenant_id:
        raise Problem(422, "invalid_field", f"account_id: no account {account_id} in tenant "
                      f"{tenant_id}", field="account_id")


STRATEGIES: RecordRoutes[Strategy] = RecordRoutes(
    what="strategy", param="strategy_id", shape=STRATEGY_ID, path="/api/v1/strategies",
    load_one=lambda reg, strategy_id: reg.strategy(strategy_id),
    load_all=lambda reg: reg.strategies(), view=strategy_view,
    tenant_of=lambda strategy: strategy.tenant_id, switch="enabled")


async def create_strategy(request: web.Request) -> web.Response:
    """``POST /api/v1/strategies``."""
    key = await require_key(request, write=True)
    body = await json_body(request)
    ctx = context(request)
    reg = ctx.strategies.registry
    tenant_id = body_id(body.get("tenant_id"), "tenant_id", TENANT_ID)
    account_id = body_id(body.get("account_id"), "account_id", ACCOUNT_ID)
    require_visible(key, tenant_id, f"tenant {tenant_id}")
    await _check_account(reg, account_id, tenant_id)
    planted = sorted((SERVER_SET - {"id", "slug"}) & body.keys())
    if planted:
        raise Problem(422, "invalid_field", f"{planted[0]}: set by the server",
                      field=planted[0])
    strategy = validated(Strategy, {
        **body, "id": f"strat-{uuid.uuid4().hex[:10]}", "secret": new_secret(),
        "slug": await unique_slug(reg, tenant_id, str(body.get("name", "")))})
    await register_strategy(ctx.bus, reg, strategy, ctx.clock)
    return web.json_response({
        "strategy": strategy_view(strategy),
        "secret": strategy.secret,
        "webhook_url": webhook_url(ctx.settings.api_url, strategy.tenant_id, strategy.slug),
        "tradingview_message": tradingview_message(strategy),
    }, status=201)


async def update_strategy(request: web.Request) -> web.Response:
    """``PATCH /api/v1/strategies/{id}``: change settings (not its id, tenant, slug or
    secret)."""
    strategy, key = await STRATEGIES.visible(request, write=True)
    body = await json_body(request)
    ctx = context(request)
    if "account_id" in body:
        await _check_account(ctx.strategies.registry, body["account_id"], strategy.tenant_id)
    return await answer_change(request, strategy,
                               switched(key, strategy, patched(strategy, body, FIXED)),
                               author(key))


async def rotate_strategy(request: web.Request) -> web.Response:
    """``POST /api/v1/strategies/{id}/rotate`` ``{"overlap_s": 3600}``: a new secret,
    answered once; the old one works for the overlap."""
    strategy, _ = await STRATEGIES.visible(request, write=True)
    overlap = await rotation_overlap(request)
    ctx = context(request)
    rotated = await rotate_secret(ctx.bus, ctx.strategies.registry, strategy.id,
                                  overlap, ctx.clock)
    if rotated is None:  # removed between the two reads
        raise Problem(404, "not_found", f"no strategy {strategy.id}")
    return web.json_response({"strategy": strategy_view(rotated), "secret": rotated.secret})


async def show_strategy(request: web.Request) -> web.Response:
    """``GET /api/v1/strategies/{id}``: the strategy now, or with ``as_of`` its settings
    as they were then (from the event store)."""
    if "as_of" in request.query:
        return await account_history.strategy_at(request)
    return await STRATEGIES.show(request)


def add_routes(app: web.Application) -> None:
    """Mount the strategy routes."""
    STRATEGIES.mount(app, create_strategy, update_strategy, show=show_strategy)
    app.router.add_post("/api/v1/strategies/{strategy_id}/rotate", rotate_strategy)
