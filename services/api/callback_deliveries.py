"""Admin API: an endpoint's delivery log, and redelivery of one delivery or of a
time range (each a new delivery of the same event, same ``webhook-id``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

from aiohttp import web

from contracts import streams
from contracts.identifiers import DELIVERY_ID
from libs.callbacks.deliveries import DeliveryLog, DeliveryRecord, Status, to_builtins
from libs.callbacks.redeliver import NotRedeliverable, in_range, redeliver
from libs.http.problems import Problem
from libs.registry.models import CallbackEndpoint
from services.api.admin_callbacks import CALLBACKS
from services.api.admin_common import author, context, optional_body, path_id

MAX_LIST = 1000
# One request redelivers at most this many (ask again for the rest).
MAX_REDELIVER = 1000
STATUSES: tuple[str, ...] = get_args(Status)


def _moment(value: object, field: str) -> datetime | None:
    """An ISO 8601 time (UTC unless it names a zone), None when absent; 422 else."""
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise Problem(422, "invalid_field", f"{field}: not an ISO 8601 time",
                      field=field) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _status(value: object) -> Status | None:
    if value is None or value == "":
        return None
    if value not in STATUSES:
        raise Problem(422, "invalid_field", f"status: one of {', '.join(STATUSES)}",
                      field="status")
    return value  # type: ignore[return-value]


async def _log(request: web.Request) -> DeliveryLog:
    return DeliveryLog(await context(request).bus.kv(streams.BUCKET_CALLBACK_DELIVERIES))


async def list_deliveries(request: web.Request) -> web.Response:
    """``GET /api/v1/callbacks/{id}/deliveries``: newest first; ``status``, ``since``,
    ``until`` (requested in ``[since, until)``) and ``limit`` narrow it."""
    endpoint, _ = await CALLBACKS.visible(request)
    query = request.query
    try:
        limit = int(query.get("limit", "100"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIST:
        raise Problem(422, "invalid_field", f"limit: 1 to {MAX_LIST}", field="limit")
    records = in_range(await (await _log(request)).of_endpoint(endpoint.id),
                       _moment(query.get("since"), "since"), _moment(query.get("until"),
                                                                     "until"),
                       _status(query.get("status")))
    return web.json_response({"deliveries": [to_builtins(r) for r in records[:limit]],
                              "truncated": len(records) > limit})


async def _visible_delivery(request: web.Request, write: bool = False
                            ) -> tuple[CallbackEndpoint, DeliveryRecord, str]:
    endpoint, key = await CALLBACKS.visible(request, write=write)
    delivery_id = path_id(request, "delivery_id", DELIVERY_ID)
    record = await (await _log(request)).get(endpoint.id, delivery_id)
    if record is None:
        raise Problem(404, "not_found", f"no delivery {delivery_id}")
    return endpoint, record, author(key)


async def get_delivery(request: web.Request) -> web.Response:
    """``GET /api/v1/callbacks/{id}/deliveries/{delivery_id}``."""
    _, record, _ = await _visible_delivery(request)
    return web.json_response(to_builtins(record))


def _enabled(endpoint: CallbackEndpoint) -> None:
    if not endpoint.enabled:
        raise Problem(409, "disabled", f"callback {endpoint.id} is disabled: enable it "
                      "(PATCH enabled=true) before redelivering")


async def redeliver_one(request: web.Request) -> web.Response:
    """``POST /api/v1/callbacks/{id}/deliveries/{delivery_id}/redeliver``."""
    endpoint, record, by = await _visible_delivery(request, write=True)
    _enabled(endpoint)
    ctx = context(request)
    try:
        new_id = await redeliver(ctx.bus, record, by, ctx.clock)
    except NotRedeliverable as exc:
        raise Problem(409, "gone", str(exc)) from exc
    return web.json_response({"delivery_id": new_id, "redelivery_of": record.delivery_id},
                             status=202)


async def redeliver_range(request: web.Request) -> web.Response:
    """``POST /api/v1/callbacks/{id}/redeliver`` ``{"since", "until", "status"}``:
    every delivery requested in ``[since, until)`` (with that status), up to 1000."""
    endpoint, key = await CALLBACKS.visible(request, write=True)
    body = await optional_body(request)
    unknown = sorted(set(body) - {"since", "until", "status"})
    if unknown:
        raise Problem(422, "invalid_field", f"{unknown[0]}: no such field", field=unknown[0])
    since, until = _moment(body.get("since"), "since"), _moment(body.get("until"), "until")
    if since is None:
        raise Problem(422, "invalid_field", "since: required (an ISO 8601 time)",
                      field="since")
    _enabled(endpoint)
    records = in_range(await (await _log(request)).of_endpoint(endpoint.id), since, until,
                       _status(body.get("status")))
    ctx = context(request)
    made: list[dict[str, Any]] = []
    for record in sorted(records, key=lambda r: r.requested_at)[:MAX_REDELIVER]:
        try:
            made.append({"delivery_id": await redeliver(ctx.bus, record, author(key),
                                                        ctx.clock),
                         "redelivery_of": record.delivery_id})
        except NotRedeliverable:
            continue
    return web.json_response({"deliveries": made, "truncated": len(records) > MAX_REDELIVER},
                             status=202)


def add_routes(app: web.Application) -> None:
    """Mount the delivery log and redelivery routes."""
    app.router.add_get("/api/v1/callbacks/{callback_id}/deliveries", list_deliveries)
    app.router.add_get("/api/v1/callbacks/{callback_id}/deliveries/{delivery_id}",
                       get_delivery)
    app.router.add_post("/api/v1/callbacks/{callback_id}/deliveries/{delivery_id}/redeliver",
                        redeliver_one)
    app.router.add_post("/api/v1/callbacks/{callback_id}/redeliver", redeliver_range)
