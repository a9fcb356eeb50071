"""Admin API: broker accounts (their configuration; ``GET /api/v1/accounts/{id}`` is
the account's trading state, served by the read API)."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from contracts.identifiers import ACCOUNT_ID, namespace_of
from libs.http.problems import Problem
from libs.registry.api_keys import ApiKey
from libs.registry.models import EXCHANGE_BROKERS, Account
from libs.registry.provisioning import register_account
from libs.registry.views import MASK, account_view
from services.api.admin_auth import require_key, require_visible
from services.api.admin_common import (
    answer_change,
    author,
    context,
    json_body,
    patched,
    registry,
    validated,
)
from services.api.admin_records import RecordRoutes
from services.api.suspension import switched

# Fixed once opened: the ledger and the projection are kept in this broker and
# currency from this starting cash; pausing belongs to the breaker and resume.
# In the adapter's venue table but without a fake venue and tests yet (none now).
UNTESTED_BROKERS: frozenset[str] = frozenset()
FIXED = frozenset({"id", "tenant_id", "broker", "currency", "starting_cash", "paused",
                   "paused_reason", "suspended"})


ACCOUNTS: RecordRoutes[Account] = RecordRoutes(
    what="account", param="account_id", shape=ACCOUNT_ID, path="/api/v1/accounts",
    load_one=lambda reg, account_id: reg.account(account_id),
    load_all=lambda reg: reg.accounts(), view=account_view,
    tenant_of=lambda account: account.tenant_id, switch="active", show_at="/config")


def _endpoint(account: Account | None) -> str | None:
    if account and account.alpaca:
        return account.alpaca.url_override
    return account.exchange.url_override if account and account.exchange else None


def _check_endpoint(key: ApiKey, before: Account | None, after: Account) -> None:
    """Only a global admin may point an account at another broker URL: the services
    would send the broker keys there (a tenant could aim them at any host)."""
    if key.tenant_id and _endpoint(after) != _endpoint(before):
        field = "alpaca" if after.alpaca else "exchange"
        raise Problem(403, "forbidden",
                      f"{field}.url_override: only a global admin key may set it")


def _check_broker(account: Account) -> Account:
    """An Alpaca account needs its keys: without them no service can reach its broker
    (its signals would fail, and its status and cleanup with them)."""
    if account.broker == "alpaca" and account.alpaca is None:
        raise Problem(422, "invalid_field", "alpaca: required for an alpaca account",
                      field="alpaca")
    if account.broker in UNTESTED_BROKERS:
        raise Problem(422, "invalid_field", f"broker: {account.broker} is not offered yet "
                      "(no tested adapter); use binance, bybit or orderly", field="broker")
    if account.broker in EXCHANGE_BROKERS:
        if account.exchange is None:
            raise Problem(422, "invalid_field", f"exchange: required for a {account.broker} "
                          "account (api_key, secret, market, testnet)", field="exchange")
        if account.broker == "orderly" and (not account.exchange.account_id
                                            or account.exchange.market != "perp"):
            raise Problem(422, "invalid_field", "exchange: an orderly account needs its "
                          "account_id and trades perpetuals (market: perp)", field="exchange")
        if account.broker == "okx" and not account.exchange.password:
            raise Problem(422, "invalid_field", "exchange.password: OKX needs the API key's "
                          "passphrase", field="exchange.password")
    elif account.exchange is not None:
        raise Problem(422, "invalid_field", f"exchange: only for a crypto venue account, not "
                      f"{account.broker}", field="exchange")
    return account


def _keep_broker_secret(account: Account, body: dict[str, Any]) -> dict[str, Any]:
    """A PATCH that sends the masked (or no) broker secret keeps the stored one."""
    alpaca = body.get("alpaca")
    if isinstance(alpaca, dict) and account.alpaca is not None and \
            alpaca.get("secret_key") in (None, "", MASK):
        body = {**body, "alpaca": {**alpaca, "secret_key": account.alpaca.secret_key}}
    exchange = body.get("exchange")
    if isinstance(exchange, dict) and account.exchange is not None:
        kept = {field: getattr(account.exchange, field) for field in ("secret", "password")
                if exchange.get(field) in (None, "", MASK)}
        body = {**body, "exchange": {**exchange, **kept}}
    return body


async def _check_chosen_id(request: web.Request, key: ApiKey, account: Account) -> None:
    """Ids are global, so a tenant key's chosen ids live in its tenant's namespace
    (``<tenant>-<name>``, no '-' in the name: :func:`namespace_of`). Otherwise an id
    taken by another tenant would answer "exists" and an unused one "created": an
    oracle of other tenants' ids. This refusal is the same whether or not the id
    exists anywhere. A global admin (who sees every tenant) may choose any id except
    one in another tenant's namespace, which that tenant's keys may choose."""
    namespace = namespace_of(account.id)
    if key.tenant_id:
        if namespace != key.tenant_id:
            raise Problem(422, "invalid_field",
                          f"id: an id chosen with a tenant key is '{key.tenant_id}-' and a "
                          "name of letters, digits or '_' (or leave it out and one is "
                          "made)", field="id")
    elif namespace and namespace != account.tenant_id and \
            await registry(request).tenant(namespace) is not None:
        raise Problem(422, "invalid_field",
                      f"id: '{namespace}-…' ids belong to tenant {namespace}", field="id")


async def create_account(request: web.Request) -> web.Response:
    """``POST /api/v1/accounts``: a broker account of a tenant the key may change."""
    key = await require_key(request, write=True)
    body = await json_body(request)
    chosen = "id" in body
    if "suspended" in body:
        raise Problem(422, "invalid_field", "suspended: set by the server", field="suspended")
    body.setdefault("id", f"acct-{uuid.uuid4().hex[:10]}")
    account = _check_broker(validated(Account, body))
    _check_endpoint(key, None, account)
    require_visible(key, account.tenant_id, f"tenant {account.tenant_id}")
    if chosen:
        await _check_chosen_id(request, key, account)
    ctx = context(request)
    if await ctx.strategies.registry.tenant(account.tenant_id) is None:
        raise Problem(422, "invalid_field", f"tenant_id: no tenant {account.tenant_id}",
                      field="tenant_id")
    if await ctx.strategies.registry.account(account.id) is not None:
        raise Problem(409, "exists", f"account {account.id} exists")
    await register_account(ctx.bus, ctx.strategies.registry, account, ctx.clock)
    return web.json_response(account_view(account), status=201)


async def update_account(request: web.Request) -> web.Response:
    """``PATCH /api/v1/accounts/{id}``: risk, breaker, fees, rate limits, broker keys."""
    account, key = await ACCOUNTS.visible(request, write=True)
    body = _keep_broker_secret(account, await json_body(request))
    updated = switched(key, account, _check_broker(patched(account, body, FIXED)))
    _check_endpoint(key, account, updated)
    return await answer_change(request, account, updated, author(key))


def add_routes(app: web.Application) -> None:
    """Mount the account routes."""
    ACCOUNTS.mount(app, create_account, update_account)
