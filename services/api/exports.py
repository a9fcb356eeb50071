"""``GET /api/v1/export``: the store's events, signals, orders or fills as JSON Lines
or CSV, streamed (projections.export), for the tenant the key sees.

Query: ``kind`` (events, signals, orders, fills), ``format`` (jsonl, csv), ``tenant``,
``account``, ``strategy``, ``since``, ``until`` (ISO times). A tenant key exports its
own tenant only. The rows stop at the chain head read when the request starts; the
``X-Chain-Position`` and ``X-Chain-Hash`` headers name it, so the export can be checked
against ``tradehooks verify`` and a signed checkpoint.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from itertools import islice

from aiohttp import web

from libs.http.problems import Problem
from projections.chain import chain_of, read_transaction
from projections.export import FORMATS, KINDS, Filters, export_lines
from projections.store import EventStore
from services.api.admin_auth import require_key
from services.api.context import CONTEXT, ApiContext

_CONTENT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
_CHUNK_ROWS = 2000


def add_routes(app: web.Application) -> None:
    """Register the export route."""
    app.router.add_get("/api/v1/export", get_export)


def _time(request: web.Request, name: str) -> datetime | None:
    text = request.query.get(name)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(422, "invalid_field", f"{name}: not an ISO 8601 time",
                      field=name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _choice(request: web.Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.query.get(name, default)
    if value not in allowed:
        raise Problem(422, "invalid_field", f"{name}: one of {', '.join(allowed)}",
                      field=name)
    return value


def _head(store: EventStore) -> tuple[int, str]:
    """The last link of the chain (position, hash hex); (0, '') when empty."""
    with read_transaction(store.recorder) as cursor:
        head = chain_of(store.recorder).head(cursor)
    return (head[0], head[2].hex()) if head else (0, "")


async def get_export(request: web.Request) -> web.StreamResponse:
    """Stream the export; the body is produced a chunk of rows at a time."""
    key = await require_key(request)
    ctx: ApiContext = request.app[CONTEXT]
    kind = _choice(request, "kind", KINDS, "events")
    fmt = _choice(request, "format", FORMATS, "jsonl")
    tenant = request.query.get("tenant", "")
    if key.tenant_id:
        if tenant and tenant != key.tenant_id:
            raise Problem(404, "not_found", f"no tenant {tenant}")
        tenant = key.tenant_id
    filters = Filters(tenant=tenant, account=request.query.get("account", ""),
                      strategy=request.query.get("strategy", ""),
                      since=_time(request, "since"), until=_time(request, "until"))
    position, chain_hash = await asyncio.to_thread(_head, ctx.store)
    response = web.StreamResponse(headers={
        "Content-Type": f"{_CONTENT_TYPES[fmt]}; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{kind}.{fmt}"',
        "X-Chain-Position": str(position), "X-Chain-Hash": chain_hash})
    await response.prepare(request)
    lines = export_lines(ctx.store, kind, fmt, filters, position)
    while chunk := await asyncio.to_thread(lambda: "".join(islice(lines, _CHUNK_ROWS))):
        await response.write(chunk.encode())
    await response.write_eof()
    return response
