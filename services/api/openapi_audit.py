"""The OpenAPI part of the auditor's routes: the export, and ``as_of`` on an account."""

from __future__ import annotations

from typing import Any

from projections.export import FORMATS, KINDS

Schema = dict[str, Any]
REF = "#/components/schemas/"
_STR = {"type": "string"}
_TIME = {"type": "string", "maxLength": 64,
         "description": "ISO 8601 time (UTC unless it names a zone)"}
_ID = {"type": "string", "maxLength": 200}

AS_OF = {"name": "as_of", "in": "query", "schema": {"type": "string", "maxLength": 64},
         "description": "the account as it was then: an ISO 8601 time (UTC unless it "
                        "names a zone) or a store position (digits)"}
STRATEGY_AS_OF = {**AS_OF, "description": "the strategy's settings as they were then: "
                  "an ISO 8601 time (UTC unless it names a zone) or a store position"}


_COUNT = {"type": "integer", "minimum": 0}
_SIDE = {
    "type": "object",
    "required": ["orders", "fills", "legs_placed", "legs_filled", "breaker_trips", "refused",
                 "refused_by", "rejected", "resting", "realised_pnl", "fees", "cash",
                 "equity", "max_drawdown", "positions", "trips"],
    "properties": {
        **{name: _COUNT for name in ("orders", "fills", "legs_placed", "legs_filled",
                                     "breaker_trips", "refused", "rejected", "resting")},
        **{name: _STR for name in ("realised_pnl", "fees", "cash", "equity",
                                   "max_drawdown")},
        "refused_by": {"type": "object", "additionalProperties": _COUNT},
        "positions": {"type": "object", "additionalProperties": _STR},
        "trips": {"type": "array", "items": {"type": "object", "properties": {
            "at": _STR, "kind": {"enum": ["sl", "tp"]}, "equity": _STR,
            "liquidated": _STR}}},
    },
}
_FILL = {"type": "object", "properties": {
    "client_order_id": _STR, "side": {"enum": ["buy", "sell"]}, "quantity": _STR,
    "price": _STR}}


def schemas() -> dict[str, Schema]:
    """``AccountAsOf``: the live account's fields plus what the past adds;
    ``WhatIfReport``: a what-if's side-by-side."""
    return {"WhatIfReport": {
        "type": "object",
        "required": ["account_id", "signals", "changes", "recorded", "replayed", "changed",
                     "prices"],
        "properties": {
            "account_id": _STR, "signals": _COUNT, "changes": {"type": "object"},
            "recorded": _SIDE, "replayed": _SIDE,
            "changed": {"type": "array", "items": {"type": "object", "properties": {
                "signal_id": _STR, "recorded": {"type": "array", "items": _FILL},
                "replayed": {"type": "array", "items": _FILL}, "refused": _STR}}},
            "prices": {"type": "object", "additionalProperties": _COUNT,
                       "description": "market observations the replay used: alert "
                                      "prices, and prices implied by recorded fills"},
        }}, "StrategyAsOf": {
        "type": "object", "required": ["strategy_id", "tenant_id", "settings", "as_of"],
        "properties": {
            "strategy_id": _STR, "tenant_id": _STR,
            "settings": {"type": "object", "description": "its registry record, secrets "
                                                         "masked"},
            "as_of": {"type": "object", "properties": {
                "requested": _STR, "position": {"type": "integer"}, "occurred_at": _STR,
                "event": _STR}}},
    }, "AccountAsOf": {
        "type": "object",
        "required": ["account_id", "tenant_id", "cash", "equity", "positions", "as_of",
                     "open_orders", "settings", "paused"],
        "properties": {
            "as_of": {"type": "object", "properties": {
                "requested": _STR, "position": {"type": "integer"}, "occurred_at": _STR,
                "events": {"type": "integer"}}},
            "open_orders": {"type": "array", "items": {"type": "object"}},
            "settings": {"type": "object"}, "paused": {"type": "boolean"},
            "positions": {"type": "array", "items": {"$ref": REF + "Position"}}},
    }}


def account_answer() -> Schema:
    """The 200 answer of ``GET /api/v1/accounts/{id}``, with or without ``as_of``."""
    return {"description": "the account's state (as it was, with as_of)", "content": {
        "application/json": {"schema": {"oneOf": [
            {"$ref": REF + "AccountState"}, {"$ref": REF + "AccountAsOf"}]}}}}


def strategy_answer(view: str) -> Schema:
    """The 200 answer of ``GET /api/v1/strategies/{id}``, with or without ``as_of``."""
    return {"description": "the strategy (its settings as they were, with as_of)",
            "content": {"application/json": {"schema": {"oneOf": [
                {"$ref": REF + view}, {"$ref": REF + "StrategyAsOf"}]}}}}


def paths(read_errors: Schema, tag_security: list[Any]) -> Schema:
    """``GET /api/v1/export``."""
    params = [
        {"name": "kind", "in": "query", "schema": {"enum": list(KINDS), "default": "events"}},
        {"name": "format", "in": "query", "schema": {"enum": list(FORMATS),
                                                      "default": "jsonl"}},
        *({"name": name, "in": "query", "schema": _ID} for name in
          ("tenant", "account", "strategy")),
        {"name": "since", "in": "query", "schema": _TIME, "description": "at or after"},
        {"name": "until", "in": "query", "schema": _TIME, "description": "before"},
    ]
    return {"/api/v1/export": {"get": {
        "summary": "Events, signals, orders or fills as JSON Lines or CSV, streamed, up to "
                   "the chain head named by X-Chain-Position / X-Chain-Hash",
        "tags": ["audit"], "security": tag_security, "parameters": params,
        "responses": {"200": {"description": "the rows", "content": {
            "application/x-ndjson": {"schema": _STR}, "text/csv": {"schema": _STR}}},
            **read_errors}}}}
