"""``GET /api/v1/analytics``: how strategies and accounts performed over a period
(``strategy_id``, ``account_id``, ``since``, ``until``; the last 7 days by default),
computed from the signal history read model: one indexed query of the period's rows,
at most :data:`MAX_ROWS` of them (``truncated`` says when the period held more)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

from aiohttp import web

from libs.http.problems import Problem
from projections.analytics import summarise
from projections.signals import to_us
from services.api.admin_auth import require_key
from services.api.admin_common import context, registry
from services.api.signal_history import history
from services.api.signal_query import parse_filters, parse_time

MAX_ROWS = 20_000
DEFAULT_PERIOD_S = 7 * 86_400


async def get_analytics(request: web.Request) -> web.Response:
    """``GET /api/v1/analytics``: the figures of the period (see the module doc)."""
    key = await require_key(request)
    params = request.query
    base = parse_filters(params, key.tenant_id or None)
    until = parse_time(params["until"], "until") if params.get("until") else None
    since = parse_time(params["since"], "since") if params.get("since") else \
        (until or to_us(context(request).clock.now())) - DEFAULT_PERIOD_S * 1_000_000
    if until is not None and until <= since:
        raise Problem(422, "invalid_field", "until: must be later than since", field="until")
    query = replace(base, since_us=since, until_us=until, limit=MAX_ROWS + 1)
    store = await history(request).get()
    rows = await asyncio.to_thread(store.page, query)
    starting = Decimal(0)
    if base.account_id is not None:
        account = await registry(request).account(base.account_id)
        if account is not None and key.sees(account.tenant_id):
            starting = account.starting_cash
    return web.json_response({**summarise(rows[:MAX_ROWS], starting),
                              "truncated": len(rows) > MAX_ROWS,
                              "since": since / 1_000_000,
                              "until": None if until is None else until / 1_000_000})


def add_routes(app: web.Application) -> None:
    """Mount the analytics route."""
    app.router.add_get("/api/v1/analytics", get_analytics)
