"""Composition root of the operator service (``tradehooks run api``).

One listener on ``TRADEHOOKS_OPERATOR_HOST``:``TRADEHOOKS_OPERATOR_PORT`` (loopback by
default): the admin API, signal and account queries, prices, commands, status, the
live stream, exports, ``/metrics``, ``/openapi.json`` and the web console. It reads
the event store and the read model; everything made from the NATS connection is
wired again on a fresh connection when the server closes the old one for good (see
:mod:`libs.http.serve`).
"""

from __future__ import annotations

import asyncio

from contracts import streams
from libs.http.serve import Listener, serve_rewired
from libs.intake.ratelimit import RateLimiter, ScopeLimits
from libs.registry.api_keys import ApiKeys
from libs.registry.cache import StrategyCache
from libs.registry.store import open_registry
from libs.runtime.bus import Bus
from libs.runtime.clock import clock_for
from libs.runtime.config import Settings
from projections.persistence import parse_store_url
from projections.readmodel import ReadModel, open_read_model
from projections.store import EventStore, open_store
from services.api.app import build_operator_app
from services.api.context import ApiContext


async def _wire(settings: Settings, bus: Bus, store: EventStore,
                read_model: ReadModel) -> ApiContext:
    """Everything a request needs, made from one connection."""
    registry = await open_registry(bus, settings)
    strategies = StrategyCache(registry)
    await strategies.start()
    bus.on_reconnected.append(strategies.on_reconnected)
    return ApiContext(settings=settings, bus=bus, strategies=strategies, store=store,
                      read_model=read_model, clock=clock_for(settings.test_clock_file),
                      limiter=RateLimiter(await bus.kv(streams.BUCKET_RATE)),
                      scope_limits=ScopeLimits(registry),
                      api_keys=ApiKeys(await bus.kv(streams.BUCKET_REGISTRY)))


async def _release(ctx: ApiContext) -> None:
    await ctx.strategies.stop()
    await ctx.bus.close()


async def main(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve the operator API until SIGTERM; in-flight requests finish first."""
    read_model = await asyncio.to_thread(open_read_model, parse_store_url(settings.store_url))
    store = await asyncio.to_thread(open_store, settings.store_url)
    try:
        await serve_rewired(
            "api", settings, stop, lambda bus: _wire(settings, bus, store, read_model),
            _release, lambda ctx: [Listener(build_operator_app(ctx), settings.operator_host,
                                            settings.operator_port, "operator API")])
    finally:
        store.close()
        read_model.close()
