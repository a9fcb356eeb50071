"""Pieces every admin route shares: the context, the JSON body, patching a record."""

from __future__ import annotations

from typing import Any, TypeVar, get_args

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from contracts.identifiers import Shape
from libs.http.problems import Problem, invalid
from libs.registry.api_keys import ApiKey
from libs.registry.changes import save_change
from libs.registry.models import Record
from libs.registry.store import Registry
from libs.registry.views import record_view
from services.api.admin_auth import require_key
from services.api.context import CONTEXT, ApiContext

M = TypeVar("M", bound=BaseModel)


def path_id(request: web.Request, name: str, shape: Shape) -> str:
    """The id in path parameter ``name``; 404 naming the parameter when no record can
    have it (checked before any lookup: ids end up in NATS subjects and KV keys)."""
    value = request.match_info[name]
    problem = shape.problem(value)
    if problem is not None:
        raise Problem(404, "not_found", f"no such {shape.name}: {problem}", field=name)
    return value


def body_id(value: object, field: str, shape: Shape) -> str:
    """An id named in a request body; 422 naming the field unless it has ``shape``."""
    problem = shape.problem(value)
    if problem is not None:
        raise Problem(422, "invalid_field", f"{field}: {problem}", field=field)
    return str(value)


def context(request: web.Request) -> ApiContext:
    """The operator service context of the app serving ``request``."""
    ctx: ApiContext = request.app[CONTEXT]
    return ctx


def registry(request: web.Request) -> Registry:
    """The registry behind the admin API."""
    return context(request).strategies.registry


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    # orjson, as for webhooks: it refuses NaN and lone surrogates (\ud800), which
    # the stdlib parser lets through to fail later, when the record is stored.
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "malformed_json", "the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise Problem(400, "not_an_object", "the body must be a JSON object")
    return data


async def optional_body(request: web.Request) -> dict[str, Any]:
    """The JSON object of a request whose body may be empty."""
    return await json_body(request) if request.can_read_body else {}


# The longest a rotated-out secret may keep working (strategies and callbacks).
MAX_OVERLAP_S = 30 * 86_400


async def rotation_overlap(request: web.Request) -> float:
    """``overlap_s`` of a rotate request (default an hour); 422 unless a number of
    seconds from 0 to :data:`MAX_OVERLAP_S`."""
    overlap = (await optional_body(request)).get("overlap_s", 3600)
    if isinstance(overlap, bool) or not isinstance(overlap, int | float) or \
            not 0 <= overlap <= MAX_OVERLAP_S:  # NaN fails both comparisons
        raise Problem(422, "invalid_field",
                      f"overlap_s: a number of seconds from 0 to {MAX_OVERLAP_S}",
                      field="overlap_s")
    return float(overlap)


def unknown_field(model: type[BaseModel], body: dict[str, Any], prefix: str = "") -> str | None:
    """The first field of ``body`` (or of an object nested in it) that ``model`` does not
    have: a misspelt setting must be refused, not silently ignored."""
    for name in sorted(body):
        field = model.model_fields.get(name)
        if field is None:
            return f"{prefix}{name}"
        nested = _model_of(field.annotation)
        value = body[name]
        if nested is not None and isinstance(value, dict):
            found = unknown_field(nested, value, f"{prefix}{name}.")
            if found:
                return found
    return None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (``Model`` or ``Model | None``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _refuse_unknown(model: type[BaseModel], body: dict[str, Any]) -> None:
    name = unknown_field(model, body)
    if name is not None:
        raise Problem(422, "invalid_field", f"{name}: no such field", field=name)


def patched(record: M, body: dict[str, Any], fixed: frozenset[str]) -> M:
    """``record`` with ``body``'s fields applied; 422 for a fixed, unknown or invalid
    field."""
    _refuse_unknown(type(record), body)
    refused = sorted(fixed & body.keys())
    if refused:
        raise Problem(422, "invalid_field", f"{refused[0]}: cannot be changed",
                      field=refused[0])
    try:
        return type(record).model_validate({**record.model_dump(), **body})
    except ValidationError as exc:
        raise invalid(exc) from exc


def validated(model: type[M], fields: dict[str, Any]) -> M:
    """A new record from ``fields``, or a 422 naming the first bad or unknown field."""
    _refuse_unknown(model, fields)
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise invalid(exc) from exc


async def global_admin(request: web.Request) -> ApiKey:
    """The caller's key when it is a global admin key; 403 otherwise."""
    key = await require_key(request, write=True)
    if key.tenant_id:
        raise Problem(403, "forbidden", "only a global admin key may do this")
    return key


def author(key: ApiKey) -> str:
    """How registry events name the key that made a change."""
    return f"api key {key.id}"


async def answer_change(request: web.Request, before: Record, after: Record,
                        by: str) -> web.Response:
    """Store ``after``, record what changed (by whom) as an event, answer its view."""
    ctx = context(request)
    await save_change(ctx.bus, ctx.strategies.registry, before, after, ctx.clock, by)
    return web.json_response(record_view(after))
