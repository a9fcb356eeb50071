"""Liveness, readiness and metrics answers, the same on both listeners."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from libs.runtime.bus import Bus
from libs.runtime.metrics import render_metrics

if TYPE_CHECKING:  # the store (eventsourcing, psycopg) is no import of ingress's
    from projections.store import EventStore


def liveness(bus: Bus) -> web.Response:
    """Fails while the NATS connection is closed for good (the server ended it) and not
    yet replaced; an orchestrator restarts a process that stays so."""
    if bus.closed_for_good:
        return web.json_response({"status": "nats_closed"}, status=503)
    return web.json_response({"status": "ok"})


async def readiness(bus: Bus, store: EventStore | None = None) -> web.Response:
    """Ready when NATS is connected and, for a process that reads it, the event store
    answers."""
    checks = {"nats": bus.nc.is_connected}
    if store is not None:
        checks["store"] = False
        try:
            await asyncio.wait_for(asyncio.to_thread(store.max_position), timeout=2)
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
