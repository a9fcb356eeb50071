"""``/metrics``, ``/healthz`` and ``/readyz`` for services without an HTTP API of their own.

Liveness (``/healthz``) fails while the service's NATS connection is closed for good
and not yet replaced (an orchestrator restarts a process that stays so); readiness
(``/readyz``) says whether it is connected right now.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from libs.runtime.metrics import render_metrics


class Health(Protocol):
    """What the probe asks about the service."""

    def alive(self) -> bool: ...

    def ready(self) -> bool: ...


HEALTH: web.AppKey[Health] = web.AppKey("health", Health)


async def _metrics(_: web.Request) -> web.Response:
    body, content_type = render_metrics()
    return web.Response(body=body, headers={"Content-Type": content_type})


async def _healthz(request: web.Request) -> web.Response:
    alive = request.app[HEALTH].alive()
    return web.json_response({"status": "ok" if alive else "nats_closed"},
                             status=200 if alive else 503)


async def _readyz(request: web.Request) -> web.Response:
    ready = request.app[HEALTH].ready()
    return web.json_response({"status": "ready" if ready else "not_ready"},
                             status=200 if ready else 503)


async def start_probe_server(host: str, port: int, health: Health) -> web.AppRunner:
    """Serve the probe endpoints on ``host:port``; the caller cleans the runner up."""
    app = web.Application()
    app[HEALTH] = health
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
