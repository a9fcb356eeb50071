"""The error middleware both listeners use: every error is ``{"error", "message"}``."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from libs.http.problems import Problem, unavailable
from libs.runtime import metrics
from libs.runtime.bus import is_bus_error

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
