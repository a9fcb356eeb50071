"""``GET /api/v1/accounts/{account_id}?as_of=<ISO time or store position>``: the
account as it was then — cash, equity, positions, open orders and settings — from the
event store (projections.as_of). Without ``as_of`` the live account is answered as
before (services.api.queries). ``GET /api/v1/strategies/{strategy_id}?as_of=`` answers
a strategy's settings as its registry events had left them then.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from contracts.identifiers import ACCOUNT_ID, STRATEGY_ID, Shape
from libs.http.problems import Problem
from projections.as_of import account_as_of, parse_moment, strategy_as_of
from projections.persistence import parse_store_url
from projections.store import EventStore
from projections.timeline_store import TimelineStore, open_timeline
from services.api import queries
from services.api.admin_auth import require_key
from services.api.admin_common import path_id
from services.api.context import CONTEXT, ApiContext

# account_as_of / strategy_as_of: (store, timeline, id, moment, as asked) -> body | None
AsOfLookup = Callable[[EventStore, TimelineStore, str, int | str, str], dict[str, Any] | None]
# One timeline connection per store, opened on the first question (the auditor
# writes it; this process only reads).
_timelines: dict[str, TimelineStore] = {}
_lock = threading.Lock()


def _timeline(store_url: str) -> TimelineStore:
    with _lock:
        if store_url not in _timelines:
            _timelines[store_url] = open_timeline(parse_store_url(store_url))
        return _timelines[store_url]


async def get_account(request: web.Request) -> web.Response:
    """The live account, or with ``as_of`` the account as it was then."""
    raw = request.query.get("as_of")
    if raw is None:
        return await queries.get_account(request)
    return await _as_of(request, raw, "account_id", ACCOUNT_ID, "account", account_as_of)


def _moment(raw: str) -> int | str:
    try:
        return parse_moment(raw)
    except ValueError as exc:
        raise Problem(422, "invalid_field", f"as_of: {exc}", field="as_of") from None


async def strategy_at(request: web.Request) -> web.Response:
    """``GET /api/v1/strategies/{id}?as_of=``: the strategy's settings then (secrets
    masked) and the registry event they stand on."""
    return await _as_of(request, request.query["as_of"], "strategy_id", STRATEGY_ID,
                        "strategy", strategy_as_of)


async def _as_of(request: web.Request, raw: str, param: str, shape: Shape, what: str,
                 lookup: AsOfLookup) -> web.Response:
    """A record as it stood at ``raw`` (a time or a store position), read from the
    store and its timeline off the event loop; 404 for one the key may not see."""
    key = await require_key(request)
    ctx: ApiContext = request.app[CONTEXT]
    record_id = path_id(request, param, shape)
    moment = _moment(raw)

    def answer() -> dict[str, object] | None:
        timeline = _timeline(ctx.settings.store_url)
        return lookup(ctx.store, timeline, record_id, moment, raw)

    body = await asyncio.to_thread(answer)
    if body is None or not key.sees(str(body["tenant_id"])):
        raise Problem(404, "not_found", f"no {what} {record_id} as of {raw}")
    return web.json_response(body)
