"""``GET /api/v1/signals``: the signal history, newest first, a page at a time.

Answered from the signal history read model (kept by the auditor), never from the
event store: each page is one indexed query. Tenant-scoped like every operator
route: a tenant's key sees its tenant's signals only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

import msgspec
from aiohttp import web

from projections.persistence import parse_store_url
from projections.signal_store import SignalStore, open_signal_store
from services.api.admin_auth import require_key
from services.api.context import CONTEXT
from services.api.signal_query import encode_cursor, parse_query


@dataclass
class History:
    """The history's tables, opened on first use (and closed with the app)."""

    url: str
    store: SignalStore | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self) -> SignalStore:
        """The open store."""
        async with self.lock:
            if self.store is None:
                self.store = await asyncio.to_thread(open_signal_store,
                                                     parse_store_url(self.url))
            return self.store

    async def close(self) -> None:
        """Close the connection, if one was opened."""
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
            self.store = None


HISTORY: web.AppKey[History] = web.AppKey("signal_history", History)


def history(request: web.Request) -> History:
    """The app's history handle (made on first use)."""
    app = request.app
    if HISTORY not in app:
        app[HISTORY] = History(app[CONTEXT].settings.store_url)
    return app[HISTORY]


async def _close(app: web.Application) -> None:
    if HISTORY in app:
        await app[HISTORY].close()


async def list_signals(request: web.Request) -> web.Response:
    """``GET /api/v1/signals``: one page of signals and the cursor of the next."""
    key = await require_key(request)
    query = parse_query(request.query, key.tenant_id or None)
    store = await history(request).get()
    # One more than asked: whether a next page exists, without a count.
    rows = await asyncio.to_thread(store.page, replace(query, limit=query.limit + 1))
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    return web.json_response({
        "signals": msgspec.to_builtins(rows),
        "next_cursor": encode_cursor(rows[-1]) if more and rows else None,
    })


def add_routes(app: web.Application) -> None:
    """Mount the history routes (the app holds an :data:`~services.api.context.CONTEXT`)."""
    app.router.add_get("/api/v1/signals", list_signals)
    app.on_cleanup.append(_close)
