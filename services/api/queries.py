"""Read API: a signal's audit trail and an account's state, from the event store."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from contracts import streams
from contracts.events import TERMINAL_TYPES
from contracts.identifiers import ACCOUNT_ID, SIGNAL_ID
from libs.brokers.market_prices import MarketPrices
from libs.http.problems import Problem
from libs.registry.operations import resume_account
from projections.accounts import decode_view, view_to_api
from projections.projector import ACCOUNTS
from services.api.admin_auth import require_key
from services.api.admin_common import path_id
from services.api.context import CONTEXT, ApiContext


def trail_status(entries: list[dict[str, Any]]) -> str:
    """``executed``, ``failed``, ``order_open`` (resting at the broker) or
    ``in_progress`` from a signal's stored events."""
    types = {entry.get("type") for entry in entries}
    if "webhook.trade_executed" in types:
        return "executed"
    if "webhook.failed" in types:
        return "failed"
    if "order.placed" in types:
        return "order_open"
    return "in_progress"


async def get_signal(request: web.Request) -> web.Response:
    """``GET /api/v1/signals/{signal_id}``: every stored event of the signal, in order."""
    key = await require_key(request)
    ctx: ApiContext = request.app[CONTEXT]
    signal_id = path_id(request, "signal_id", SIGNAL_ID)
    entries = await asyncio.to_thread(ctx.store.trail, signal_id)
    if entries is None or not all(key.sees(str(e.get("tenant_id", ""))) for e in entries):
        raise Problem(404, "not_found", f"no signal {signal_id} in the event store")
    return web.json_response({
        "signal_id": signal_id,
        "status": trail_status(entries),
        "terminal": any(e.get("type") in TERMINAL_TYPES for e in entries),
        # A registry event's record holds sealed secrets: it is for rebuilding the
        # registry from the store, not for reading through the API.
        "events": [{k: v for k, v in e.items() if k != "record"} for e in entries],
    })


async def get_account(request: web.Request) -> web.Response:
    """``GET /api/v1/accounts/{account_id}``: cash, equity and positions."""
    key = await require_key(request)
    ctx: ApiContext = request.app[CONTEXT]
    account_id = path_id(request, "account_id", ACCOUNT_ID)
    body = await asyncio.to_thread(ctx.read_model.get, ACCOUNTS, account_id)
    view = decode_view(body) if body is not None else None
    if view is None or not key.sees(view.tenant_id):
        raise Problem(404, "not_found", f"no account {account_id}")
    prices = MarketPrices(await ctx.bus.kv(streams.BUCKET_PRICES))
    return web.json_response(view_to_api(view, await prices.of(view.book.positions)))


async def resume_account_route(request: web.Request) -> web.Response:
    """``POST /api/v1/accounts/{account_id}/resume``: an operator resumes trading."""
    key = await require_key(request, write=True)
    ctx: ApiContext = request.app[CONTEXT]
    account_id = path_id(request, "account_id", ACCOUNT_ID)
    account = await ctx.strategies.registry.account(account_id)
    if account is None or not key.sees(account.tenant_id):
        raise Problem(404, "not_found", f"no account {account_id}")
    resumed = await resume_account(ctx.bus, ctx.strategies.registry, account_id, ctx.clock,
                                   by=f"api key {key.id}")
    if resumed is None:
        raise Problem(404, "not_found", f"no account {account_id}")
    return web.json_response({"account_id": account_id, "paused": resumed.paused})
