"""``/metrics`` and ``/healthz`` for services that have no HTTP API of their own."""

from __future__ import annotations

from aiohttp import web

from services.runtime.metrics import render_metrics


async def _metrics(_: web.Request) -> web.Response:
    body, content_type = render_metrics()
    return web.Response(body=body, headers={"Content-Type": content_type})


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def start_probe_server(host: str, port: int) -> web.AppRunner:
    """Serve the probe endpoints on ``host:port``; the caller cleans the runner up."""
    app = web.Application()
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
