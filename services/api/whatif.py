"""``POST /api/v1/accounts/{account_id}/what-if``: the account's recorded signals decided
again with other settings, offline (libs.whatif), beside the recording — the report
``tradehooks what-if --json`` prints, for the console's What-if page.

Body: ``changes`` (setting → value: a strategy's, ``breaker.*``, ``account.*``),
``strategy``, ``since``, ``until`` (ISO times), ``breaker_interval_s``. A tenant key
asks about its own accounts only. Nothing is published and no broker is called.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.identifiers import ACCOUNT_ID
from libs.http.problems import Problem, invalid
from services.api.admin_auth import require_key
from services.api.admin_common import json_body, path_id
from services.api.context import CONTEXT, ApiContext


class WhatIfIn(BaseModel):
    """What to replay, and what to change."""

    model_config = ConfigDict(extra="forbid")
    changes: dict[str, Any] = Field(default_factory=dict, max_length=50)
    strategy: str = Field(default="", max_length=200)
    since: datetime | None = None
    until: datetime | None = None
    breaker_interval_s: float | None = Field(default=None, ge=0, le=86_400)


def add_routes(app: web.Application) -> None:
    """Register the what-if route."""
    app.router.add_post("/api/v1/accounts/{account_id}/what-if", post_what_if)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


async def post_what_if(request: web.Request) -> web.Response:
    """Replay and answer the side-by-side report."""
    # Imported at the first what-if: the replay holds every service's decisions.
    from libs.whatif.changes import Changes
    from libs.whatif.offline import Costs
    from libs.whatif.replay import from_store, replay

    key = await require_key(request)
    ctx: ApiContext = request.app[CONTEXT]
    account_id = path_id(request, "account_id", ACCOUNT_ID)
    account = await ctx.strategies.registry.account(account_id)
    if account is None or not key.sees(account.tenant_id):
        raise Problem(404, "not_found", f"no account {account_id}")
    try:
        body = WhatIfIn.model_validate(await json_body(request))
    except ValidationError as exc:
        raise invalid(exc) from None
    try:
        changes = Changes.parse(body.changes)
    except ValueError as exc:
        raise Problem(422, "invalid_field", f"changes: {exc}", field="changes") from None
    settings = ctx.settings
    costs = Costs(Decimal(str(settings.paper_slippage_bps)),
                  Decimal(str(settings.paper_fee_bps)))
    interval = settings.breaker_interval_s if body.breaker_interval_s is None \
        else body.breaker_interval_s

    def run() -> dict[str, Any]:
        return replay(from_store(ctx.store), account_id, changes, body.strategy,
                      _utc(body.since), _utc(body.until), costs, interval).report()

    try:
        report = await asyncio.to_thread(run)
    except ValidationError as exc:  # a value out of its range, met at the first record
        first = exc.errors()[0]
        field = "changes." + ".".join(str(part) for part in first["loc"])
        raise Problem(422, "invalid_field", f"{field}: {first['msg']}", field=field) \
            from None
    return web.json_response({"account_id": account_id, **report})
