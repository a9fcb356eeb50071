"""The aiohttp application: routes and the error middleware."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from contracts.webhook_urls import LEGACY_ROUTE, STRATEGY_ROUTE, UNIVERSAL_ROUTE
from libs.runtime import metrics
from libs.runtime.bus import is_bus_error
from services.api.console import assets as console_assets
from services.ingress import (
    account_history,
    admin,
    analytics,
    commands,
    console_ops,
    exports,
    health,
    live,
    openapi,
    prices,
    queries,
    signal_history,
    webhooks,
)
from services.ingress.context import CONTEXT, IngressContext
from services.ingress.problems import Problem, unavailable

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problems_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error becomes ``{"error", "message"}``; counts and times every request."""
    started = time.perf_counter()
    route = request.match_info.route.resource.canonical if request.match_info.route.resource \
        else "unmatched"
    try:
        response = await handler(request)
    except Problem as problem:
        response = problem.response()
    except web.HTTPException as exc:
        code = exc.reason.lower().replace(" ", "_")
        response = web.json_response({"error": code, "message": exc.reason},
                                     status=exc.status, headers={
                                         k: v for k, v in exc.headers.items()
                                         if k.lower() == "allow"})
    except Exception as exc:
        if is_bus_error(exc):  # NATS away or its connection being replaced: retry
            log.warning("%s %s: the event bus failed: %r", request.method, route, exc)
            response = unavailable("the event bus is unavailable; retry").response()
        else:
            log.exception("unexpected error on %s %s", request.method, route)
            response = web.json_response(
                {"error": "internal_error",
                 "message": "unexpected error; nothing was accepted"}, status=500)
    metrics.HTTP_REQUESTS.labels(route, str(response.status)).inc()
    metrics.HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)
    return response


# Paths the public listener serves: the webhook routes and the health probes.
PUBLIC_PATHS = (UNIVERSAL_ROUTE, STRATEGY_ROUTE, LEGACY_ROUTE, "/api/v1/webhooks/signals",
                "/healthz", "/readyz")


def serves_publicly(path: str) -> bool:
    """Whether ``path`` (a route template or a request path) is on the public listener;
    every other route is on the operator listener only."""
    return path in PUBLIC_PATHS or path.startswith("/webhook/")


def _new_app(ctx: IngressContext) -> web.Application:
    # client_max_size is above our own limit so that read_body answers a clean 413.
    app = web.Application(middlewares=[problems_middleware],
                          client_max_size=ctx.settings.max_body_bytes * 2)
    app[CONTEXT] = ctx
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    return app


def build_public_app(ctx: IngressContext) -> web.Application:
    """The public edge (what the internet may reach): the webhook routes and health.
    Nothing here reads or changes the registry for a caller, or lists tenants."""
    app = _new_app(ctx)
    app.router.add_post(UNIVERSAL_ROUTE, webhooks.receive_webhook)
    app.router.add_post(STRATEGY_ROUTE, webhooks.receive_webhook)
    app.router.add_post(LEGACY_ROUTE, webhooks.receive_webhook)  # while a slug is unique
    app.router.add_post("/api/v1/webhooks/signals", webhooks.receive_webhook)
    return app


def build_operator_app(ctx: IngressContext) -> web.Application:
    """The operator side (loopback by default): admin and read API, commands, prices,
    the live stream, metrics, OpenAPI, health, and the web console at ``/``."""
    app = _new_app(ctx)
    app.router.add_post("/api/v1/prices", prices.post_prices)
    app.router.add_post("/api/v1/cleanup", commands.post_cleanup)
    app.router.add_get("/api/v1/status", commands.get_status)
    app.router.add_get("/api/v1/signals/{signal_id}", queries.get_signal)
    app.router.add_get("/api/v1/accounts/{account_id}", account_history.get_account)
    app.router.add_post("/api/v1/accounts/{account_id}/resume", queries.resume_account_route)
    admin.add_routes(app)
    signal_history.add_routes(app)
    live.add_routes(app)
    console_ops.add_routes(app)
    exports.add_routes(app)
    analytics.add_routes(app)
    console_assets.add_routes(app)  # the web console at /, beside the API it calls
    app.router.add_get("/metrics", health.metrics_endpoint)
    app.router.add_get("/openapi.json", openapi.openapi_json)
    return app
