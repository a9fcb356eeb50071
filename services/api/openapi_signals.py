"""The OpenAPI part of the signal history and the live stream (merged by ``openapi.py``)."""

from __future__ import annotations

from typing import Any

import msgspec

from contracts.identifiers import ACCOUNT_ID, SIGNAL_ID, STRATEGY_ID, SYMBOL, Shape
from projections.signals import STATUSES, SignalRow
from services.api.signal_query import MAX_LIMIT

Schema = dict[str, Any]
REF = "#/components/schemas/"


def _shaped(shape: Shape, description: str) -> Schema:
    return {"type": "string", "minLength": 1, "maxLength": shape.max_length,
            "pattern": shape.pattern, "description": f"{description} ({shape.described})"}


_TIME = {"type": "string", "description": "ISO 8601 time (UTC unless it names a zone) or "
                                          "Unix seconds"}


def filter_params() -> list[Schema]:
    """The filters shared by the list and the live stream."""
    return [
        {"name": "strategy_id", "in": "query", "schema": _shaped(STRATEGY_ID, "one strategy")},
        {"name": "account_id", "in": "query", "schema": _shaped(ACCOUNT_ID, "one account")},
        {"name": "status", "in": "query", "schema": {"enum": list(STATUSES)},
         "description": "accepted (still in the pipeline), executed or failed"},
        {"name": "symbol", "in": "query", "schema": _shaped(SYMBOL, "one symbol")},
    ]


_MARK = {"type": "string", "pattern": "^[0-9]{1,19}-[sa]$",
         "description": "the id of the last event received: the stream resumes after it"}


def stream_params() -> list[Schema]:
    """Parameters of ``GET /api/v1/stream``."""
    return [*filter_params(),
            {"name": "Last-Event-ID", "in": "header", "schema": _MARK},
            {"name": "last_event_id", "in": "query", "schema": _MARK,
             "description": "the same, for clients that cannot set the header"}]


STREAM_DESCRIPTION = (
    "Server-sent events: `signal` (a row of the history, data as in SignalPage), "
    "`account` ({account_id, tenant_id, cause, state: AccountState or null}) and one "
    "`ready` first. Ids are `<store position>-s|a`; reconnect with `Last-Event-ID` to get "
    "exactly what was missed. Ends when the server stops.")


def list_params() -> list[Schema]:
    """Every query parameter of ``GET /api/v1/signals``."""
    return [
        *filter_params(),
        {"name": "since", "in": "query", "schema": _TIME,
         "description": "received at or after"},
        {"name": "until", "in": "query", "schema": _TIME, "description": "received before"},
        {"name": "q", "in": "query", "schema": _shaped(
            SIGNAL_ID, "a signal id, order id, client order id or failure code (exact, "
                       "any case)")},
        {"name": "cursor", "in": "query", "schema": {"type": "string", "maxLength": 64},
         "description": "next_cursor of the previous page"},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                   "maximum": MAX_LIMIT, "default": 50}},
    ]


def schemas() -> dict[str, Schema]:
    """Components: the row (from its msgspec Struct) and the page."""
    (row,), components = msgspec.json.schema_components((SignalRow,),
                                                        ref_template=REF + "{name}")
    components.update({
        "SignalPage": {
            "type": "object", "additionalProperties": False,
            "required": ["signals", "next_cursor"],
            "properties": {
                "signals": {"type": "array", "items": row},
                "next_cursor": {"anyOf": [{"type": "string"}, {"type": "null"}],
                                "description": "null on the last page"}}},
    })
    return components
