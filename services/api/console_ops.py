"""Operator actions the web console needs beyond the admin API:

- ``POST /api/v1/accounts/{id}/pause``: stop an account taking new signals (the
  counterpart of ``/resume``); recorded as ``registry.account_updated``.
- ``POST /api/v1/strategies/{id}/test`` ``{"alert", "dry_run"}``: send an alert to a
  strategy from the operator side, as a dry run (validated and risk-decided, never
  sent to a broker) or for real on a paper account. It enters the pipeline exactly as
  a webhook would (``webhook.received``, auth mode ``operator``), so its trail is a
  real one; every test is a new alert (never a duplicate of an earlier one).
"""

from __future__ import annotations

import orjson
from aiohttp import web

from contracts.dialects import AlertError
from contracts.dialects.fields import without_credentials
from contracts.identifiers import ACCOUNT_ID, STRATEGY_ID
from libs.http.problems import Problem
from libs.intake.dedupe import dedupe_key
from libs.intake.dry_run import dry_run_key
from libs.intake.publish import check_rate, publish_received
from libs.registry.changes import save_change
from libs.registry.gate import closed
from libs.runtime import metrics
from libs.runtime.clock import new_id
from services.api.admin_auth import require_key
from services.api.admin_common import author, context, json_body, path_id, registry


async def pause_account(request: web.Request) -> web.Response:
    """``POST /api/v1/accounts/{account_id}/pause``: new signals of the account fail
    (``paused``) until it is resumed; open positions and legs stay."""
    key = await require_key(request, write=True)
    account_id = path_id(request, "account_id", ACCOUNT_ID)
    account = await registry(request).account(account_id)
    if account is None or not key.sees(account.tenant_id):
        raise Problem(404, "not_found", f"no account {account_id}")
    if not account.paused:
        paused = account.model_copy(update={
            "paused": True, "paused_reason": f"paused by an operator ({author(key)})"})
        ctx = context(request)
        await save_change(ctx.bus, ctx.strategies.registry, account, paused, ctx.clock,
                          author(key))
    return web.json_response({"account_id": account_id, "paused": True})


async def test_alert(request: web.Request) -> web.Response:
    """``POST /api/v1/strategies/{strategy_id}/test``: a test alert (see the module doc)."""
    key = await require_key(request, write=True)
    strategy_id = path_id(request, "strategy_id", STRATEGY_ID)
    ctx = context(request)
    strategy = await ctx.strategies.registry.strategy(strategy_id)
    if strategy is None or not key.sees(strategy.tenant_id):
        raise Problem(404, "not_found", f"no strategy {strategy_id}")
    body = await json_body(request)
    unknown = sorted(body.keys() - {"alert", "dry_run"})
    if unknown:
        raise Problem(422, "invalid_field", f"{unknown[0]}: not a field of a test alert",
                      field=unknown[0])
    alert_body, dry_run = body.get("alert"), body.get("dry_run", True)
    if not isinstance(alert_body, dict):
        raise Problem(422, "invalid_field", "alert: a JSON object (an alert in any dialect)",
                      field="alert")
    if not isinstance(dry_run, bool):
        raise Problem(422, "invalid_field", "dry_run: true or false", field="dry_run")
    tenant = await ctx.strategies.registry.tenant(strategy.tenant_id)
    if (shut := closed(tenant, strategy)) is not None:
        raise Problem(403, shut.code, shut.reason)
    if not dry_run:
        account = await ctx.strategies.registry.account(strategy.account_id)
        if account is None or account.broker != "paper":
            raise Problem(422, "invalid_field", "dry_run: a real test alert is only sent "
                          "to a paper account; use a dry run", field="dry_run")
    clean = without_credentials(alert_body)
    # The parsers load at the first test alert: the operator service parses no other.
    from contracts.dialects import parse_alert

    try:
        alert = parse_alert(clean)
    except AlertError as exc:
        field = f"alert.{exc.field}" if exc.field else "alert"
        raise Problem(422, "invalid_field", exc.message, field=field) from exc
    raw = orjson.dumps(clean)
    # A test is always a new alert: a second click is a second test, not a repeat.
    dedupe = dry_run_key(dedupe_key(strategy.id, f"test:{new_id()}", raw), dry_run)
    if not dry_run:
        await check_rate(ctx.limiter, await ctx.scope_limits.scopes(strategy), ctx.clock)
    signal_id, _ = await publish_received(ctx.bus, ctx.clock, strategy, "operator",
                                          alert, clean, "application/json",
                                          "operator", dedupe, dry_run)
    metrics.EVENTS_PUBLISHED.labels("webhook.received").inc()
    return web.json_response({"signal_id": signal_id, "status": "accepted",
                              "dry_run": dry_run}, status=202)


def add_routes(app: web.Application) -> None:
    """Mount the console's operator actions."""
    app.router.add_post("/api/v1/accounts/{account_id}/pause", pause_account)
    app.router.add_post("/api/v1/strategies/{strategy_id}/test", test_alert)
