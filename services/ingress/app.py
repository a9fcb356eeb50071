"""The public edge's aiohttp application: the webhook routes and health, nothing else."""

from __future__ import annotations

from aiohttp import web

from contracts.webhook_urls import LEGACY_ROUTE, STRATEGY_ROUTE, UNIVERSAL_ROUTE
from libs.http import health
from libs.http.middleware import problems_middleware
from services.ingress import webhooks
from services.ingress.context import CONTEXT, IngressContext

# Paths the public listener serves: the webhook routes and the health probes.
PUBLIC_PATHS = (UNIVERSAL_ROUTE, STRATEGY_ROUTE, LEGACY_ROUTE, "/api/v1/webhooks/signals",
                "/healthz", "/readyz")


def serves_publicly(path: str) -> bool:
    """Whether ``path`` (a route template or a request path) is on the public listener;
    every other route is the operator service's (``services/api``)."""
    return path in PUBLIC_PATHS or path.startswith("/webhook/")


async def healthz(request: web.Request) -> web.Response:
    """Liveness: fails while the NATS connection is closed for good."""
    return health.liveness(request.app[CONTEXT].bus)


async def readyz(request: web.Request) -> web.Response:
    """Ready when NATS is connected (ingress reads no store)."""
    return await health.readiness(request.app[CONTEXT].bus)


def build_public_app(ctx: IngressContext) -> web.Application:
    """The public edge (what the internet may reach): the webhook routes and health.
    Nothing here reads or changes the registry for a caller, or lists tenants."""
    # client_max_size is above our own limit so that read_body answers a clean 413.
    app = web.Application(middlewares=[problems_middleware],
                          client_max_size=ctx.settings.max_body_bytes * 2)
    app[CONTEXT] = ctx
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_post(UNIVERSAL_ROUTE, webhooks.receive_webhook)
    app.router.add_post(STRATEGY_ROUTE, webhooks.receive_webhook)
    app.router.add_post(LEGACY_ROUTE, webhooks.receive_webhook)  # while a slug is unique
    app.router.add_post("/api/v1/webhooks/signals", webhooks.receive_webhook)
    return app


def build_metrics_app(ctx: IngressContext) -> web.Application:
    """``/metrics`` and health on ``TRADEHOOKS_METRICS_PORT`` (deployed on its own,
    ingress has no operator listener to show them)."""
    app = web.Application(middlewares=[problems_middleware])
    app[CONTEXT] = ctx
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", health.metrics_endpoint)
    return app
