"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

import asyncio

from aiohttp import web

from libs.runtime.metrics import render_metrics
from services.ingress.context import CONTEXT, IngressContext


async def healthz(request: web.Request) -> web.Response:
    """Liveness: fails while the NATS connection is closed for good (the server ended
    it) and not yet replaced; an orchestrator restarts a process that stays so."""
    ctx: IngressContext = request.app[CONTEXT]
    if ctx.bus.closed_for_good:
        return web.json_response({"status": "nats_closed"}, status=503)
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when NATS is connected and the event store answers."""
    ctx: IngressContext = request.app[CONTEXT]
    checks = {"nats": ctx.bus.nc.is_connected, "store": False}
    try:
        await asyncio.wait_for(asyncio.to_thread(ctx.store.max_position), timeout=2)
        checks["store"] = True
    except Exception:  # noqa: S110 - reported as not ready
        pass
    ready = all(checks.values())
    return web.json_response({"status": "ready" if ready else "not_ready", "checks": checks},
                             status=200 if ready else 503)


async def metrics_endpoint(_: web.Request) -> web.Response:
    """Prometheus exposition."""
    body, content_type = render_metrics()
    return web.Response(body=body, headers={"Content-Type": content_type})
