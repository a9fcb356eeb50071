"""The operator service's aiohttp application: every route but the webhooks."""

from __future__ import annotations

from aiohttp import web

from libs.http import health
from libs.http.middleware import problems_middleware
from services.api import (
    account_history,
    admin,
    analytics,
    commands,
    console_ops,
    exports,
    live,
    prices,
    queries,
    signal_history,
    whatif,
)
from services.api.console import assets as console_assets
from services.api.context import CONTEXT, ApiContext


async def healthz(request: web.Request) -> web.Response:
    """Liveness: fails while the NATS connection is closed for good."""
    return health.liveness(request.app[CONTEXT].bus)


async def readyz(request: web.Request) -> web.Response:
    """Ready when NATS is connected and the event store answers."""
    ctx = request.app[CONTEXT]
    return await health.readiness(ctx.bus, ctx.store)


async def openapi_json(request: web.Request) -> web.Response:
    """``GET /openapi.json``."""
    # Imported at the first request: the document is built from every model's schema.
    from services.api import openapi

    return await openapi.openapi_json(request)


async def asyncapi_json(request: web.Request) -> web.Response:
    """``GET /asyncapi.json``."""
    from services.api import openapi  # as in openapi_json

    return await openapi.asyncapi_json(request)


def build_operator_app(ctx: ApiContext) -> web.Application:
    """The operator side (loopback by default): admin and read API, commands, prices,
    the live stream, metrics, OpenAPI, health, and the web console at ``/``."""
    app = web.Application(middlewares=[problems_middleware],
                          client_max_size=ctx.settings.max_body_bytes * 2)
    app[CONTEXT] = ctx
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
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
    whatif.add_routes(app)
    console_assets.add_routes(app)  # the web console at /, beside the API it calls
    app.router.add_get("/metrics", health.metrics_endpoint)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/asyncapi.json", asyncapi_json)
    return app
