"""Composition root of the ingress service: the public webhook edge.

One listener (``TRADEHOOKS_HTTP_HOST``:``TRADEHOOKS_HTTP_PORT``) serves the webhook
routes and health; with ``TRADEHOOKS_METRICS_PORT`` set, ``/metrics`` is served on
the operator host at that port. The operator API is another service
(``services/api``). Everything made from the NATS connection (the strategy cache and
its watches, KV handles, the rate limiter) is wired in :func:`_wire` and wired again
on a fresh connection when the server closes the old one for good (see
:mod:`libs.http.serve`); meanwhile webhooks get ``503`` with ``Retry-After``
(nothing is accepted without a durable publish).
"""

from __future__ import annotations

import asyncio

from contracts import streams
from libs.http.serve import Listener, serve_rewired
from libs.intake.ratelimit import RateLimiter, ScopeLimits
from libs.registry.cache import StrategyCache
from libs.registry.store import open_registry
from libs.runtime.bus import Bus
from libs.runtime.clock import clock_for
from libs.runtime.config import Settings
from services.ingress.accepted import AcceptedAlerts
from services.ingress.app import build_metrics_app, build_public_app
from services.ingress.auth.failures import AuthFailureAlerts
from services.ingress.client_ip import networks
from services.ingress.context import IngressContext


async def _wire(settings: Settings, bus: Bus) -> IngressContext:
    """Everything a request needs, made from one connection."""
    registry = await open_registry(bus, settings)
    strategies = StrategyCache(registry)
    await strategies.start()
    bus.on_reconnected.append(strategies.on_reconnected)
    clock = clock_for(settings.test_clock_file)
    limiter = RateLimiter(await bus.kv(streams.BUCKET_RATE))
    return IngressContext(settings=settings, bus=bus, strategies=strategies, clock=clock,
                          limiter=limiter, scope_limits=ScopeLimits(registry),
                          trusted_proxies=networks(settings.trusted_proxies.split(",")),
                          auth_alerts=AuthFailureAlerts(bus, limiter, clock,
                                                        settings.auth_alert_threshold),
                          accepted=AcceptedAlerts(await bus.kv(streams.BUCKET_ACCEPTED)))


async def _release(ctx: IngressContext) -> None:
    await ctx.strategies.stop()
    await ctx.bus.close()


def _listeners(ctx: IngressContext) -> list[Listener]:
    settings = ctx.settings
    listeners = [Listener(build_public_app(ctx), settings.http_host, settings.http_port,
                          "ingress")]
    if settings.metrics_port:
        listeners.append(Listener(build_metrics_app(ctx), settings.operator_host,
                                  settings.metrics_port, "ingress metrics"))
    return listeners


async def main(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve webhooks until SIGTERM; in-flight requests finish first. Several ingress
    processes may share the port (``TRADEHOOKS_HTTP_WORKERS``): the kernel spreads
    connections."""
    await serve_rewired("ingress", settings, stop, lambda bus: _wire(settings, bus),
                        _release, _listeners, reuse_port=settings.http_workers > 1)
