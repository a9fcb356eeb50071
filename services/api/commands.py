"""``POST /api/v1/cleanup`` and ``GET /api/v1/status``: answered by the sl-tp-monitor."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from contracts import subjects
from contracts.identifiers import ACCOUNT_ID
from libs.http.problems import Problem, unavailable
from services.api.admin_auth import require_key
from services.api.context import CONTEXT, ApiContext

COMMAND_TIMEOUT_S = 10.0


async def _ask(ctx: ApiContext, subject: str, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        reply = await ctx.bus.nc.request(subject, orjson.dumps(payload),
                                         timeout=COMMAND_TIMEOUT_S)
    except Exception as exc:  # no responders, timeout, disconnected
        raise unavailable("the sl-tp-monitor did not answer; retry") from exc
    body: dict[str, Any] = orjson.loads(reply.data)
    if "error" in body:
        raise unavailable(f"the sl-tp-monitor could not run the command ({body['message']})")
    return body


async def post_cleanup(request: web.Request) -> web.Response:
    """Cancel every open SL/TP leg whose symbol has no position, now (global admins)."""
    key = await require_key(request, write=True)
    if key.tenant_id:
        raise Problem(403, "forbidden", "only a global admin key runs the cleanup")
    return web.json_response(await _ask(request.app[CONTEXT], subjects.CLEANUP_COMMAND, {}))


async def get_status(request: web.Request) -> web.Response:
    """Positions, open orders and bot state of every account (``?account_id=`` for one)."""
    key = await require_key(request)
    account_id = request.query.get("account_id")
    if account_id is not None and not ACCOUNT_ID.matches(account_id):
        raise Problem(404, "not_found", f"no such account id: {ACCOUNT_ID.problem(account_id)}",
                      field="account_id")
    body = await _ask(request.app[CONTEXT], subjects.STATUS_COMMAND, {"account_id": account_id})
    body["accounts"] = [a for a in body["accounts"] if key.sees(a["tenant_id"])]
    if account_id is not None and not body["accounts"]:
        raise Problem(404, "not_found", f"no account {account_id}")
    return web.json_response(body)
