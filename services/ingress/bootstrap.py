"""Composition root of the ingress service (HTTP)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from contracts import streams
from projections.persistence import parse_store_url
from projections.readmodel import open_read_model
from projections.store import open_store
from services.ingress.app import build_app
from services.ingress.auth_alerts import AuthFailureAlerts
from services.ingress.client_ip import networks
from services.ingress.context import IngressContext
from services.ingress.ratelimit import RateLimiter, ScopeLimits
from services.registry.api_keys import ApiKeys
from services.registry.store import StrategyCache, open_registry
from services.runtime.bus import ensure_topology
from services.runtime.clock import SystemClock
from services.runtime.config import Settings
from services.runtime.service import connect_when_available, install_stop_handlers

log = logging.getLogger(__name__)


async def main(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve HTTP until SIGTERM; in-flight requests finish first."""
    stop = stop or asyncio.Event()
    install_stop_handlers(stop)
    reconnect_hooks: list[Callable[[], None]] = []

    async def _reconnected() -> None:
        for hook in reconnect_hooks:
            hook()

    bus = await connect_when_available(settings, "ingress", stop, reconnected_cb=_reconnected)
    if bus is None:
        return
    while True:
        try:
            await ensure_topology(bus, settings.dedupe_window_s, settings.nats_replicas)
            break
        except Exception as exc:  # NATS went away while starting: keep trying
            log.warning("ingress could not set up streams yet (%r); retrying", exc)
            await asyncio.sleep(1.0)
    read_model = await asyncio.to_thread(open_read_model, parse_store_url(settings.store_url))
    store = await asyncio.to_thread(open_store, settings.store_url)
    registry = await open_registry(bus, settings)
    strategies = StrategyCache(registry)
    await strategies.start()
    reconnect_hooks.append(strategies.on_reconnected)
    clock = SystemClock()
    limiter = RateLimiter(await bus.kv(streams.BUCKET_RATE))
    ctx = IngressContext(settings=settings, bus=bus, strategies=strategies,
                         store=store,
                         read_model=read_model, clock=clock,
                         limiter=limiter, scope_limits=ScopeLimits(registry),
                         trusted_proxies=networks(settings.trusted_proxies.split(",")),
                         auth_alerts=AuthFailureAlerts(bus, limiter, clock,
                                                       settings.auth_alert_threshold),
                         api_keys=ApiKeys(await bus.kv(streams.BUCKET_REGISTRY)))
    # No access log: tokens may ride in query strings and must never be logged.
    # On SIGTERM the listener closes at once (new connections are refused) and
    # requests in flight get this long to finish their durable publish and answer.
    runner = web.AppRunner(build_app(ctx), access_log=None, shutdown_timeout=10.0)
    await runner.setup()
    # Several ingress processes may share the port: the kernel spreads connections.
    site = web.TCPSite(runner, settings.http_host, settings.http_port,
                       reuse_port=settings.http_workers > 1)
    await site.start()
    log.info("ingress listening on http://%s:%d", settings.http_host, settings.http_port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await strategies.stop()
        await bus.close()
        store.close()
        read_model.close()
        log.info("ingress stopped")
