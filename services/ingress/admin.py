"""Admin API: tenants, accounts and strategies (create, read, update, disable, list).

Every route needs an admin key; a tenant-scoped key sees only its tenant. Secrets
are answered once, when a strategy is created or rotated, and never listed.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from contracts import streams
from contracts.events import StrategyUpdated
from services.ingress.admin_auth import require_key, require_visible
from services.ingress.context import IngressContext
from services.ingress.problems import Problem, invalid
from services.registry.api_keys import ApiKey
from services.registry.models import Account, Strategy, Tenant, slugify
from services.registry.operations import rotate_secret
from services.registry.provisioning import (
    register_account,
    register_strategy,
    register_tenant,
    tradingview_message,
)
from services.registry.secrets import new_secret
from services.runtime.ids import derived_event_id

MASK = "********"
READ_ONLY = frozenset({"id", "tenant_id", "slug", "secret", "previous_secret",
                       "previous_valid_until"})


class TenantIn(BaseModel):
    """Body of ``POST /api/v1/tenants``."""

    model_config = ConfigDict(extra="forbid")
    name: str
    id: str = ""


def _ctx(request: web.Request) -> IngressContext:
    ctx: IngressContext = request.app["ctx"]
    return ctx


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError as exc:
        raise Problem(400, "malformed_json", "the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise Problem(400, "not_an_object", "the body must be a JSON object")
    return data


def strategy_view(strategy: Strategy) -> dict[str, Any]:
    """A strategy as the API shows it: everything but its secrets."""
    return strategy.model_dump(mode="json", exclude={"secret", "previous_secret"})


def account_view(account: Account) -> dict[str, Any]:
    """An account as the API shows it: broker keys masked."""
    data = account.model_dump(mode="json")
    if data.get("alpaca"):
        data["alpaca"]["secret_key"] = MASK
    return data


async def create_tenant(request: web.Request) -> web.Response:
    """``POST /api/v1/tenants`` (global admin keys only)."""
    key = await require_key(request, write=True)
    if key.tenant_id:
        raise Problem(403, "forbidden", "only a global admin key creates tenants")
    try:
        body = TenantIn.model_validate(await _body(request))
    except ValidationError as exc:
        raise invalid(exc) from exc
    ctx = _ctx(request)
    tenant = Tenant(id=body.id or slugify(body.name), name=body.name)
    if await ctx.strategies.registry.tenant(tenant.id) is not None:
        raise Problem(409, "exists", f"tenant {tenant.id} exists")
    await register_tenant(ctx.bus, ctx.strategies.registry, tenant, ctx.clock)
    return web.json_response(tenant.model_dump(mode="json"), status=201)


async def list_tenants(request: web.Request) -> web.Response:
    """``GET /api/v1/tenants``: the tenants the key sees."""
    key = await require_key(request)
    registry = _ctx(request).strategies.registry
    tenants = [t for t in await registry.tenants() if key.sees(t.id)]
    return web.json_response([t.model_dump(mode="json") for t in tenants])


async def get_tenant(request: web.Request) -> web.Response:
    """``GET /api/v1/tenants/{id}``."""
    key = await require_key(request)
    tenant_id = request.match_info["tenant_id"]
    require_visible(key, tenant_id, f"tenant {tenant_id}")
    tenant = await _ctx(request).strategies.registry.tenant(tenant_id)
    if tenant is None:
        raise Problem(404, "not_found", f"no tenant {tenant_id}")
    return web.json_response(tenant.model_dump(mode="json"))


async def create_account(request: web.Request) -> web.Response:
    """``POST /api/v1/accounts``: a broker account of a tenant the key may change."""
    key = await require_key(request, write=True)
    body = await _body(request)
    body.setdefault("id", f"acct-{uuid.uuid4().hex[:10]}")
    try:
        account = Account.model_validate(body)
    except ValidationError as exc:
        raise invalid(exc) from exc
    ctx = _ctx(request)
    require_visible(key, account.tenant_id, f"tenant {account.tenant_id}")
    if await ctx.strategies.registry.tenant(account.tenant_id) is None:
        raise Problem(422, "invalid_field", f"tenant_id: no tenant {account.tenant_id}",
                      field="tenant_id")
    if await ctx.strategies.registry.account(account.id) is not None:
        raise Problem(409, "exists", f"account {account.id} exists")
    await register_account(ctx.bus, ctx.strategies.registry, account, ctx.clock)
    return web.json_response(account_view(account), status=201)


async def list_accounts(request: web.Request) -> web.Response:
    """``GET /api/v1/accounts``: the account configurations the key sees."""
    key = await require_key(request)
    accounts = await _ctx(request).strategies.registry.accounts()
    return web.json_response([account_view(a) for a in accounts if key.sees(a.tenant_id)])


async def _unique_slug(ctx: IngressContext, tenant_id: str, name: str) -> str:
    taken = {s.slug for s in await ctx.strategies.registry.strategies()
             if s.tenant_id == tenant_id}
    base = slugify(name)
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


async def create_strategy(request: web.Request) -> web.Response:
    """``POST /api/v1/strategies``: answers the webhook URL, the secret (once) and a
    ready TradingView message; the URL works at once on every ingress."""
    key = await require_key(request, write=True)
    body = await _body(request)
    ctx = _ctx(request)
    tenant_id, account_id = str(body.get("tenant_id", "")), str(body.get("account_id", ""))
    require_visible(key, tenant_id, f"tenant {tenant_id}")
    account = await ctx.strategies.registry.account(account_id)
    if account is None or account.tenant_id != tenant_id:
        raise Problem(422, "invalid_field", f"account_id: no account {account_id} in tenant "
                      f"{tenant_id}", field="account_id")
    if "secret" in body:
        raise Problem(422, "invalid_field", "secret: generated by the server", field="secret")
    fields = {**body, "id": f"strat-{uuid.uuid4().hex[:10]}", "secret": new_secret(),
              "slug": await _unique_slug(ctx, tenant_id, str(body.get("name", "")))}
    try:
        strategy = Strategy.model_validate(fields)
    except ValidationError as exc:
        raise invalid(exc) from exc
    await register_strategy(ctx.bus, ctx.strategies.registry, strategy, ctx.clock)
    return web.json_response({
        "strategy": strategy_view(strategy),
        "secret": strategy.secret,
        "webhook_url": f"{ctx.settings.api_url}/webhook/{strategy.slug}",
        "tradingview_message": tradingview_message(strategy),
    }, status=201)


async def _visible_strategy(request: web.Request, write: bool) -> tuple[Strategy, ApiKey]:
    key = await require_key(request, write=write)
    strategy_id = request.match_info["strategy_id"]
    strategy = await _ctx(request).strategies.registry.strategy(strategy_id)
    if strategy is None or not key.sees(strategy.tenant_id):
        raise Problem(404, "not_found", f"no strategy {strategy_id}")
    return strategy, key


async def list_strategies(request: web.Request) -> web.Response:
    """``GET /api/v1/strategies``: the strategies the key sees (no secrets)."""
    key = await require_key(request)
    strategies = await _ctx(request).strategies.registry.strategies()
    return web.json_response([strategy_view(s) for s in strategies if key.sees(s.tenant_id)])


async def get_strategy(request: web.Request) -> web.Response:
    """``GET /api/v1/strategies/{id}``."""
    strategy, _ = await _visible_strategy(request, write=False)
    return web.json_response(strategy_view(strategy))


async def update_strategy(request: web.Request) -> web.Response:
    """``PATCH /api/v1/strategies/{id}``: change settings (not its id, tenant or secret)."""
    strategy, key = await _visible_strategy(request, write=True)
    body = await _body(request)
    fixed = READ_ONLY & body.keys()
    if fixed:
        name = sorted(fixed)[0]
        raise Problem(422, "invalid_field", f"{name}: cannot be changed", field=name)
    ctx = _ctx(request)
    if "account_id" in body:  # never bind a strategy to another tenant's account
        account = await ctx.strategies.registry.account(str(body["account_id"]))
        if account is None or account.tenant_id != strategy.tenant_id:
            raise Problem(422, "invalid_field", f"account_id: no account {body['account_id']} "
                          f"in tenant {strategy.tenant_id}", field="account_id")
    try:
        updated = Strategy.model_validate({**strategy.model_dump(), **body})
    except ValidationError as exc:
        raise invalid(exc) from exc
    await _save_change(ctx, strategy, updated, key)
    return web.json_response(strategy_view(updated))


async def _save_change(ctx: IngressContext, before: Strategy, after: Strategy,
                       key: ApiKey) -> None:
    """Store the new settings and record what changed, by whom, as an event."""
    await ctx.strategies.registry.put(after)
    old, new = strategy_view(before), strategy_view(after)
    changes = {name: value for name, value in new.items() if old.get(name) != value}
    if not changes:
        return
    now = ctx.clock.now()
    correlation = f"strategy:{after.id}"
    stage = f"updated:{int(now.timestamp() * 1000)}"
    event = StrategyUpdated(
        event_id=derived_event_id(correlation, stage), signal_id=correlation,
        tenant_id=after.tenant_id, occurred_at=now, strategy_id=after.id, changes=changes,
        by=f"api key {key.id}")
    await ctx.bus.publish_event(event, streams.message_id(correlation, stage))


async def disable_strategy(request: web.Request) -> web.Response:
    """``POST /api/v1/strategies/{id}/disable``: its webhooks are refused at once."""
    strategy, key = await _visible_strategy(request, write=True)
    disabled = strategy.model_copy(update={"enabled": False})
    await _save_change(_ctx(request), strategy, disabled, key)
    return web.json_response(strategy_view(disabled))


async def rotate_strategy(request: web.Request) -> web.Response:
    """``POST /api/v1/strategies/{id}/rotate`` ``{"overlap_s": 3600}``: a new secret,
    answered once; the old one works for the overlap."""
    strategy, _ = await _visible_strategy(request, write=True)
    body = await _body(request) if request.can_read_body else {}
    overlap = body.get("overlap_s", 3600)
    if not isinstance(overlap, int | float) or overlap < 0:
        raise Problem(422, "invalid_field", "overlap_s: a number of seconds >= 0",
                      field="overlap_s")
    ctx = _ctx(request)
    rotated = await rotate_secret(ctx.bus, ctx.strategies.registry, strategy.id,
                                  float(overlap), ctx.clock)
    assert rotated is not None
    return web.json_response({"strategy": strategy_view(rotated), "secret": rotated.secret})


def add_routes(app: web.Application) -> None:
    """Mount the admin routes."""
    app.router.add_post("/api/v1/tenants", create_tenant)
    app.router.add_get("/api/v1/tenants", list_tenants)
    app.router.add_get("/api/v1/tenants/{tenant_id}", get_tenant)
    app.router.add_post("/api/v1/accounts", create_account)
    app.router.add_get("/api/v1/accounts", list_accounts)
    app.router.add_post("/api/v1/strategies", create_strategy)
    app.router.add_get("/api/v1/strategies", list_strategies)
    app.router.add_get("/api/v1/strategies/{strategy_id}", get_strategy)
    app.router.add_patch("/api/v1/strategies/{strategy_id}", update_strategy)
    app.router.add_post("/api/v1/strategies/{strategy_id}/disable", disable_strategy)
    app.router.add_post("/api/v1/strategies/{strategy_id}/rotate", rotate_strategy)
