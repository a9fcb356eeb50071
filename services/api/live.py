"""``GET /api/v1/stream``: server-sent events of signal rows and account changes.

The stream reads the signal history read model, not the bus: every row that
changed after the client's last event is sent in its current state, in store
order, so a client that reconnects with ``Last-Event-ID`` gets exactly what it
missed — on any ingress process, and after a replay too. An event's id is
``<store position>-s`` for a signal row and ``<store position>-a`` for an account
(a fill changes both at one position: the row is sent first).

Events: ``signal`` (a history row), ``account`` (``account_id``, ``tenant_id``,
``cause`` and the account's state, or null before its first fill), and ``ready``
once at the start (its id is where the stream begins). A comment line keeps idle
connections open. Filtered by the caller's tenant and the list's filters.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson
from aiohttp import web

from contracts import streams
from libs.brokers.market_prices import MarketPrices
from libs.http.problems import Problem
from projections.accounts import decode_view, view_to_api
from projections.projector import ACCOUNTS
from projections.signal_store import SignalQuery, SignalStore
from projections.signals import AccountTouch, SignalRow
from services.api.admin_auth import require_key
from services.api.context import CONTEXT, ApiContext
from services.api.signal_history import history
from services.api.signal_query import parse_filters

POLL_S = 0.25
PAGE = 500
KEEPALIVE_S = 15.0
_ID = re.compile(r"^(\d{1,19})-([sa])$")

STOPPING: web.AppKey[asyncio.Event] = web.AppKey("live_stopping", asyncio.Event)


@dataclass(frozen=True)
class Mark:
    """Where a client is: everything up to ``pos`` sent (and the row at ``pos`` when
    ``kind`` is ``s``, both kinds when it is ``a``)."""

    pos: int
    kind: str

    @property
    def event_id(self) -> str:
        """The SSE id of this point."""
        return f"{self.pos}-{self.kind}"


def parse_mark(value: str) -> Mark:
    """A ``Last-Event-ID`` this stream gave; 422 for anything else."""
    match = _ID.match(value)
    if match is None:
        raise Problem(422, "invalid_field", "Last-Event-ID: not an id this stream gave",
                      field="Last-Event-ID")
    return Mark(int(match.group(1)), match.group(2))


def row_matches(row: SignalRow, query: SignalQuery) -> bool:
    """Whether a row passes the stream's filters (the tenant is filtered in SQL)."""
    return all(wanted is None or getattr(row, name) == wanted
               for name, wanted in (("strategy_id", query.strategy_id),
                                    ("account_id", query.account_id),
                                    ("status", query.status), ("symbol", query.symbol)))


def pending(rows: list[SignalRow], touches: list[AccountTouch], mark: Mark, upto: int,
            query: SignalQuery) -> list[tuple[Mark, SignalRow | AccountTouch]]:
    """What to send after ``mark``, up to position ``upto``, in stream order."""
    out: list[tuple[Mark, SignalRow | AccountTouch]] = []
    for row in rows:
        if row.pos <= upto and (row.pos > mark.pos) and row_matches(row, query):
            out.append((Mark(row.pos, "s"), row))
    for touch in touches:
        after = touch.pos > mark.pos or (touch.pos == mark.pos and mark.kind == "s")
        if touch.pos <= upto and after and (query.account_id in (None, touch.account_id)):
            out.append((Mark(touch.pos, "a"), touch))
    out.sort(key=lambda item: (item[0].pos, item[0].kind != "s"))
    return out


def _frame(event: str, mark: Mark, data: Any) -> bytes:
    return (f"id: {mark.event_id}\nevent: {event}\n".encode()
            + b"data: " + orjson.dumps(data) + b"\n\n")


class _Stream:
    """One client's stream."""

    def __init__(self, request: web.Request, store: SignalStore, query: SignalQuery) -> None:
        self.request = request
        self.ctx: ApiContext = request.app[CONTEXT]
        self.store = store
        self.query = query

    async def built_upto(self) -> int:
        """The position both read models have reached (accounts are sent with their
        state, so never ahead of the account projection)."""
        signals, accounts = await asyncio.gather(
            asyncio.to_thread(self.store.position),
            asyncio.to_thread(self.ctx.read_model.position, ACCOUNTS))
        return min(signals, accounts)

    async def account_data(self, touch: AccountTouch) -> dict[str, Any]:
        body = await asyncio.to_thread(self.ctx.read_model.get, ACCOUNTS, touch.account_id)
        view = decode_view(body) if body is not None else None
        state = None
        if view is not None:
            prices = MarketPrices(await self.ctx.bus.kv(streams.BUCKET_PRICES))
            state = view_to_api(view, await prices.of(view.book.positions))
        return {"account_id": touch.account_id, "tenant_id": touch.tenant_id,
                "cause": touch.cause, "state": state}

    async def send_after(self, response: web.StreamResponse, mark: Mark, upto: int) -> Mark:
        """Send everything after ``mark`` up to ``upto``, a page at a time; the new mark."""
        tenant = self.query.tenant_id
        while mark.pos < upto or mark.kind == "s":
            rows, touches = await asyncio.gather(
                asyncio.to_thread(self.store.changed_since, mark.pos, tenant, PAGE),
                asyncio.to_thread(self.store.accounts_touched_since,
                                  mark.pos - (mark.kind == "s"), tenant, PAGE))
            # A full page may stop short of ``upto``: send only what both pages cover.
            horizon = upto
            if len(rows) == PAGE:
                horizon = min(horizon, rows[-1].pos)
            if len(touches) == PAGE:
                horizon = min(horizon, touches[-1].pos)
            for at, item in pending(rows, touches, mark, horizon, self.query):
                if isinstance(item, SignalRow):
                    await response.write(_frame("signal", at, msgspec.to_builtins(item)))
                else:
                    await response.write(_frame("account", at, await self.account_data(item)))
            mark = Mark(max(horizon, mark.pos), "a")
        return mark


def _start_mark(headers: Mapping[str, str], params: Mapping[str, str]) -> Mark | None:
    value = headers.get("Last-Event-ID") or params.get("last_event_id")
    return parse_mark(value) if value else None


async def stream(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/stream``: the live stream (see the module doc)."""
    key = await require_key(request)
    query = parse_filters(request.query, key.tenant_id or None)
    mark = _start_mark(request.headers, request.query)
    store = await history(request).get()
    live = _Stream(request, store, query)
    stopping = request.app.setdefault(STOPPING, asyncio.Event())
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    upto = await live.built_upto()
    if mark is None:
        mark = Mark(upto, "a")
    await response.write(_frame("ready", mark, {"position": mark.pos}))
    idle = 0.0
    with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
        while not stopping.is_set():
            sent = await live.send_after(response, mark, upto)
            idle = 0.0 if sent != mark else idle
            mark = sent
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), POLL_S)
            idle += POLL_S
            if idle >= KEEPALIVE_S:
                await response.write(b": keep-alive\n\n")
                idle = 0.0
            upto = await live.built_upto()
    return response


async def _on_shutdown(app: web.Application) -> None:
    # Streams end at once, so a graceful stop never waits for their clients.
    app.setdefault(STOPPING, asyncio.Event()).set()


def add_routes(app: web.Application) -> None:
    """Mount the live stream."""
    app.router.add_get("/api/v1/stream", stream)
    app.on_shutdown.append(_on_shutdown)
