"""``POST /webhook[/<tenant>/<slug>]`` (and the legacy ``/webhook/<slug>``): authenticate,
validate, de-duplicate, publish, answer."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from contracts.dialects import AlertError, parse_alert
from contracts.dialects.fields import without_credentials
from contracts.identifiers import SLUG, TENANT_ID
from libs.http.problems import Problem, unavailable
from libs.intake.dedupe import dedupe_key
from libs.intake.dry_run import dry_run_key, dry_run_requested
from libs.intake.publish import check_rate, publish_received
from libs.intake.ratelimit import limits_of
from libs.registry.gate import closed
from libs.runtime import metrics
from libs.runtime.bus import is_bus_error
from services.ingress.auth import authenticate_webhook
from services.ingress.body import declared_content_type, parse_payload, read_body
from services.ingress.client_ip import allowed, client_address
from services.ingress.context import CONTEXT, IngressContext

log = logging.getLogger(__name__)
# From the start of the request (body reading included): TradingView gives up at 3 s.
ACCEPT_BUDGET_S = 2.5


async def receive_webhook(request: web.Request) -> web.Response:
    """Accept one alert; 202 only once JetStream has stored ``webhook.received``."""
    ctx: IngressContext = request.app[CONTEXT]
    deadline = asyncio.get_running_loop().time() + ACCEPT_BUDGET_S
    _check_url_ids(request)
    dry_run = dry_run_requested(request.query, request.headers)
    raw = await read_body(request, ctx.settings.max_body_bytes)
    content_type = declared_content_type(request)
    payload = parse_payload(raw, content_type)
    source = client_address(request.remote or "", request.headers.get("X-Forwarded-For"),
                            ctx.trusted_proxies)
    strategy, auth_mode = await authenticate_webhook(ctx, request, payload, raw, source)
    if (shut := closed(ctx.strategies.tenant(strategy.tenant_id), strategy)) is not None:
        raise Problem(403, shut.code, shut.reason)
    if not allowed(source, strategy.ip_allowlist):
        raise Problem(403, "ip_not_allowed",
                      f"source address {source} is not allowed for this strategy")
    clean = without_credentials(payload)
    try:
        alert = parse_alert(clean)
    except AlertError as exc:
        raise Problem(422, "invalid_field", exc.message, field=exc.field) from exc
    sender_id = request.headers.get("webhook-id", "") if auth_mode == "hmac" else ""
    key = dry_run_key(dedupe_key(strategy.id, sender_id or alert.alert_id, raw), dry_run)
    if not ctx.bus.nc.is_connected:
        # NATS is known to be away (restarting, unreachable): refuse at once instead
        # of holding every request for the whole budget; nothing is claimed yet.
        raise unavailable("the event bus is unavailable; retry")
    try:
        # TradingView gives up after 3 s: answer 503 (retry is safe: the retry is
        # recognised by its dedupe key) rather than hang while NATS is away.
        async with asyncio.timeout_at(deadline):
            scopes = await ctx.scope_limits.scopes(strategy)
            limited = any(limits_of(limits) for _, limits in scopes)
            # A retry of an accepted alert is a duplicate before it is a request over
            # a limit: it is answered as one and counts against no limit.
            first = await ctx.accepted.signal_of(key) if limited else None
            if first is not None:
                return _duplicate(first)
            await check_rate(ctx.limiter, scopes, ctx.clock)
            signal_id, duplicate = await publish_received(
                ctx.bus, ctx.clock, strategy, auth_mode, alert, clean, content_type,
                source, key, dry_run)
            if limited:
                await ctx.accepted.remember(key, signal_id)
    except Problem:
        raise
    except Exception as exc:
        if is_bus_error(exc):
            raise unavailable("the event bus is unavailable; retry") from exc
        raise
    if duplicate:
        return _duplicate(signal_id)
    metrics.EVENTS_PUBLISHED.labels("webhook.received").inc()
    # Debug, not info: at thousands of alerts a second the log line costs more than
    # the rest of the request; the event store and metrics already record each one.
    log.debug("accepted signal %s for strategy %s", signal_id, strategy.slug)
    return web.json_response({"signal_id": signal_id, "status": "accepted"}, status=202)


def _duplicate(signal_id: str) -> web.Response:
    return web.json_response({"signal_id": signal_id, "status": "duplicate"}, status=200)


def _check_url_ids(request: web.Request) -> None:
    """404 naming the part of a per-strategy URL that no strategy can have (before
    any lookup: slugs end up in KV subjects)."""
    for name, shape in (("tenant", TENANT_ID), ("slug", SLUG)):
        value = request.match_info.get(name)
        if value is not None and (problem := shape.problem(value)) is not None:
            raise Problem(404, "not_found", f"no strategy at this URL: {problem}", field=name)


