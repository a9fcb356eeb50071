"""The OpenAPI 3.1 document of the whole HTTP API, served at ``GET /openapi.json``.

Bodies come from the models that read and write them: the registry records and the
admin ``*In`` models (pydantic ``model_json_schema``), the events of a signal's trail
and the broker orders of ``/status`` (msgspec). Only answers built as plain dicts in
their handlers (webhook acknowledgements, the account state, errors …) are written
out here. ``tests/fuzz/test_openapi_schemathesis.py`` holds the live server to it.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import msgspec
from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from contracts import asyncapi
from contracts.events import AnyEvent
from contracts.identifiers import (
    ACCOUNT_ID,
    API_KEY_ID,
    SIGNAL_ID,
    SLUG,
    STRATEGY_ID,
    TENANT_ID,
    Shape,
)
from contracts.orders import BrokerOrder
from contracts.webhook_urls import LEGACY_ROUTE, STRATEGY_ROUTE
from libs.registry.models import Account, Strategy, Tenant
from services.api import (
    admin_accounts,
    admin_strategies,
    admin_tenants,
    openapi_audit,
    openapi_callbacks,
    openapi_signals,
)
from services.api.admin_common import MAX_OVERLAP_S
from services.api.admin_keys import ApiKeyIn
from services.api.prices import PriceIn, PricesIn
from services.api.whatif import WhatIfIn

Schema = dict[str, Any]
REF = "#/components/schemas/"
JSON = "application/json"
# Answers of the registry models get this suffix: the same model reads differently
# (decimals accept numbers) than it is answered (decimals are strings, every field set).
VIEW = "View"

# --- schemas generated from the models --------------------------------------------


def _pydantic_inputs() -> dict[str, Schema]:
    inputs: list[type[BaseModel]] = [Tenant, Account, Strategy, admin_tenants.TenantIn,
                                     ApiKeyIn, PriceIn, PricesIn, WhatIfIn]
    _, defs = models_json_schema([(m, "validation") for m in inputs],
                                 ref_template=REF + "{model}")
    schemas: dict[str, Schema] = defs["$defs"]
    # Every body the admin API takes refuses a field it does not know (a misspelt
    # setting is a 422, never silently ignored): nested objects included.
    for schema in schemas.values():
        if schema.get("type") == "object":
            schema["additionalProperties"] = False
    return schemas


def _pydantic_views() -> dict[str, Schema]:
    """Answers are ``model_dump(mode="json")``: every field present and nothing else, so
    a field gone missing or a secret let into a view breaks the document."""
    _, defs = models_json_schema([(m, "serialization") for m in (Tenant, Account, Strategy)],
                                 ref_template=REF + "{model}" + VIEW)
    views = {}
    for name, schema in defs["$defs"].items():
        schema["required"] = list(schema.get("properties", {}))
        schema["additionalProperties"] = False
        views[name + VIEW] = schema
    # Secrets are never answered by a view (only once by create and rotate).
    strategy = views["Strategy" + VIEW]
    for secret in ("secret", "previous_secret"):
        del strategy["properties"][secret]
        strategy["required"].remove(secret)
    return views


def _msgspec_schemas() -> dict[str, Schema]:
    (event, order), components = msgspec.json.schema_components(
        (AnyEvent, BrokerOrder), ref_template=REF + "{name}")
    # msgspec answers a Struct as a $ref to its component: naming that ref
    # "BrokerOrder" again would make the component point at itself.
    named = {"Event": event, "BrokerOrder": order}
    return {**components, **{k: v for k, v in named.items()
                             if v.get("$ref") != REF + k}}


def _without(schema: Schema, fields: frozenset[str], required: tuple[str, ...] = ()) -> Schema:
    """``schema`` minus ``fields``, requiring only ``required``."""
    out = copy.deepcopy(schema)
    out["properties"] = {k: v for k, v in out["properties"].items() if k not in fields}
    out["additionalProperties"] = False
    out["required"] = list(required)
    if not required:
        del out["required"]
    return out


def _request_schemas(inputs: dict[str, Schema]) -> dict[str, Schema]:
    """Create and PATCH bodies: the records minus what the server sets or keeps fixed."""
    account = _without(inputs["Account"], frozenset({"suspended"}), ("tenant_id", "name"))
    return {
        "TenantPatch": _without(inputs["Tenant"], admin_tenants.FIXED),
        "NotificationChannelPut": _without(inputs["NotificationChannel"], frozenset(),
                                           ("kind",)),
        "AccountCreate": account,
        "AccountPatch": _without(inputs["Account"], admin_accounts.FIXED),
        "StrategyCreate": _without(inputs["Strategy"], admin_strategies.SERVER_SET,
                                   ("tenant_id", "account_id", "name")),
        "StrategyPatch": _without(inputs["Strategy"], admin_strategies.FIXED),
    }


# --- answers written out by hand (their handlers build plain dicts) ----------------

_STR = {"type": "string"}
_DECIMAL = {"type": "string", "description": "a decimal number as a string"}
_BOOL = {"type": "boolean"}
_KEY = {"id": _STR, "role": {"enum": ["admin", "viewer"]}, "tenant_id": _STR}


def _obj(required: dict[str, Any], **optional: Any) -> Schema:
    """An answer object: exactly these properties (a stray one is a schema break)."""
    return {"type": "object", "properties": {**required, **optional},
            "required": list(required), "additionalProperties": False}


def _ref(name: str) -> Schema:
    return {"$ref": REF + name}


HAND_WRITTEN: dict[str, Schema] = {
    "Error": _obj({"error": _STR, "message": _STR},
                  field={**_STR, "description": "the offending field, when there is one"}),
    "WebhookAccepted": _obj({"signal_id": _STR, "status": {"enum": ["accepted"]}}),
    "WebhookDuplicate": _obj({"signal_id": {**_STR, "description": "the first request's"},
                              "status": {"enum": ["duplicate"]}}),
    "SignalTrail": _obj({
        "signal_id": _STR,
        "status": {"enum": ["executed", "failed", "order_open", "in_progress"]},
        "terminal": _BOOL,
        "events": {"type": "array", "items": _ref("Event")}}),
    "Position": _obj({"symbol": _STR, "quantity": _DECIMAL, "average_price": _DECIMAL,
                      "last_price": _DECIMAL, "unrealised_pnl": _DECIMAL}),
    "AccountState": _obj({
        "account_id": _STR, "tenant_id": _STR, "name": _STR, "broker": _STR,
        "currency": _STR, "cash": _DECIMAL, "equity": _DECIMAL, "realised_pnl": _DECIMAL,
        "unrealised_pnl": _DECIMAL, "buying_power": _DECIMAL, "fees_paid": _DECIMAL,
        "fills": {"type": "integer", "minimum": 0},
        "positions": {"type": "array", "items": _ref("Position")}}),
    "AccountStatus": _obj({
        "account_id": _STR, "tenant_id": _STR, "broker": _STR, "active": _BOOL,
        "paused": _BOOL, "paused_reason": _STR,
        "equity": {"anyOf": [_DECIMAL, {"type": "null"}]},
        "cash": {"anyOf": [_DECIMAL, {"type": "null"}]},
        "broker_error": {"anyOf": [_STR, {"type": "null"}],
                         "description": "why the broker could not be read (then equity, "
                                        "cash, positions and orders are unknown)"},
        "positions": {"type": "object", "additionalProperties": _DECIMAL,
                      "description": "symbol → signed quantity"},
        "open_orders": {"type": "array", "items": _ref("BrokerOrder")},
        "breaker": {"anyOf": [_ref("BreakerConfig" + VIEW), {"type": "null"}]},
        "strategies": {"type": "array", "items": _obj(
            {"id": _STR, "slug": _STR, "enabled": _BOOL})}}),
    "Status": _obj({"accounts": {"type": "array", "items": _ref("AccountStatus")}}),
    "Cleanup": _obj({"canceled": {"type": "array", "items": _obj(
        {"account_id": _STR, "symbol": _STR, "client_order_id": _STR,
         "action": {"enum": ["cancel", "resize"]}, "reason": _STR})}}),
    "Resumed": _obj({"account_id": _STR, "paused": _BOOL}),
    "PricesAccepted": _obj({"accepted": {"type": "integer", "minimum": 1}}),
    "ApiKey": _obj(_KEY),
    "ApiKeyCreated": _obj({**_KEY, "key": {**_STR, "description": "shown once"}}),
    "ApiKeyRevoked": _obj({**_KEY, "revoked": {"const": True}}),
    "StrategyCreated": _obj({
        "strategy": _ref("Strategy" + VIEW),
        "secret": {**_STR, "description": "shown once"},
        "webhook_url": {"type": "string", "format": "uri"},
        "tradingview_message": {"type": "object", "additionalProperties": _STR,
                                "description": "a ready TradingView alert message"}}),
    "StrategyRotated": _obj({"strategy": _ref("Strategy" + VIEW),
                             "secret": {**_STR, "description": "shown once"}}),
    "Rotate": {"type": "object", "properties": {"overlap_s": {
        "type": "number", "minimum": 0, "maximum": MAX_OVERLAP_S, "default": 3600,
        "description": "seconds the old secret keeps working"}}},
    "Health": _obj({"status": {"enum": ["ok", "nats_closed"]}}),
    "Ready": _obj({"status": {"enum": ["ready", "not_ready"]},
                   "checks": _obj({"nats": _BOOL}, store={
                       **_BOOL, "description": "only where the process reads the store "
                       "(the operator service)"})}),
}


# --- responses and operations -------------------------------------------------------

ERRORS = {
    400: "the body is not valid JSON, not an object, or unreadable",
    401: "no credential, or a wrong, expired or badly signed one",
    403: "the credential may not do this (viewer key, tenant key, disabled strategy …)",
    404: "no such record, or one the key may not see",
    408: "the body did not arrive within the read deadline",
    409: "a record with this id exists",
    413: "the body is larger than the limit",
    415: "a content type the route does not read",
    422: "a missing or invalid field, named in ``field``",
    429: "over a rate limit; retry after ``Retry-After`` seconds",
    503: "a service or the event bus is unavailable; nothing was accepted, retry",
}
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"},
                                "description": "seconds to wait before retrying"}}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _answers(ok: dict[int, tuple[str, str]], *errors: int) -> Schema:
    """``ok``: status → (schema name, description); ``errors``: the error statuses."""
    out: Schema = {str(s): _json(_ref(name), text) for s, (name, text) in ok.items()}
    for status in errors:
        out[str(status)] = _json(_ref("Error"), ERRORS[status])
        if status in (429, 503):
            out[str(status)]["headers"] = _RETRY_AFTER
    return out


def _id_schema(shape: Shape) -> Schema:
    return {"type": "string", "minLength": 1, "maxLength": shape.max_length,
            "pattern": shape.pattern, "description": f"a {shape.name}: {shape.described}"}


def _path_param(name: str, shape: Shape) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": _id_schema(shape)}


def _body(schema: Schema, required: bool = True) -> Schema:
    return {"required": required, "content": {JSON: {"schema": schema}}}


ADMIN: list[dict[str, list[str]]] = [{"adminKey": []}, {"adminBearer": []}]
# Read routes: 401 without a key; write routes also 403 for a viewer or tenant key.
READ = (401,)
WRITE = (401, 403)
# Every route that reads a JSON body.
BODY = (400, 413, 422)


def _op(summary: str, answers: Schema, *, tag: str, params: list[Schema] | None = None,
        body: Schema | None = None, security: list[Any] | None = None) -> Schema:
    op: Schema = {"summary": summary, "tags": [tag], "responses": answers,
                  "security": ADMIN if security is None else security}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = body
    return op


def _channel_paths(tenant: list[Schema]) -> Schema:
    """A tenant's notification channels, one at a time (the tenant's own admin keys
    may write them)."""
    channel = [*tenant, {"name": "channel_name", "in": "path", "required": True,
                         "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$",
                                    "minLength": 1, "maxLength": 40}}]
    view = _ref("NotificationChannel" + VIEW)
    listed = _json({"type": "array", "items": view}, "the channels (secrets masked)")
    return {
        "/api/v1/tenants/{tenant_id}/notifications": {
            "get": _op("The tenant's notification channels (secrets masked)",
                       {"200": listed, **_answers({}, *READ, 404)}, tag="tenants",
                       params=tenant)},
        "/api/v1/tenants/{tenant_id}/notifications/{channel_name}": {
            "put": _op("Add or replace a notification channel (a masked or missing secret "
                       "keeps the stored one)", _answers(
                           {200: ("NotificationChannel" + VIEW, "replaced"),
                            201: ("NotificationChannel" + VIEW, "added")},
                           *WRITE, 404, *BODY), tag="tenants", params=channel,
                       body=_body(_ref("NotificationChannelPut"))),
            "delete": _op("Remove a notification channel", {
                "200": _json({"type": "array", "items": view}, "the channels left"),
                **_answers({}, *WRITE, 404)}, tag="tenants", params=channel)},
    }


def _webhook(summary: str, slug: bool = False, tenant: bool = False) -> Schema:
    params = [_path_param("tenant", TENANT_ID)] if tenant else []
    params += [_path_param("slug", SLUG)] if slug else []
    params += [
        {"name": "token", "in": "query", "schema": _STR,
         "description": "the strategy secret (what TradingView can send)"},
        *({"name": h, "in": "header", "schema": _STR, "description": d} for h, d in (
            ("webhook-id", "Standard Webhooks: the sender's message id (de-duplicates)"),
            ("webhook-timestamp", "Standard Webhooks: Unix seconds, ±5 minutes"),
            ("webhook-signature", "Standard Webhooks: v1,<base64 HMAC-SHA256>, "
                                  "space-separated for several"))),
    ]
    body = {"required": True, "content": {
        JSON: {"schema": {"type": "object", "description":
                          "an alert in one of the four dialects; may carry `token`"}},
        "text/plain": {"schema": {"type": "string", "description":
                                  "TradingView text: JSON, or key=value lines"}}}}
    answers = _answers({202: ("WebhookAccepted", "stored durably; the pipeline runs"),
                        200: ("WebhookDuplicate", "a repeat within the dedupe window")},
                       400, 401, 403, *((404,) if slug else ()), 408,
                       *((409,) if slug and not tenant else ()), 413, 415, 422, 429, 503)
    if slug and not tenant:
        answers["409"]["description"] = (
            "several tenants have a strategy with this slug and the credential matched "
            "none of them: use /webhook/{tenant}/{slug}")
    op = _op(summary, answers, tag="webhooks", params=params, body=body,
             security=[{}, {"strategyToken": []}, {"strategyKey": []},
                       {"strategyBearer": []}])
    if slug and not tenant:
        op["deprecated"] = True
    return op


_NUM_OR_NULL = {"type": ["number", "null"]}
_DEC_OR_NULL = {"anyOf": [_DECIMAL, {"type": "null"}]}

# What the console's own routes read and answer.
CONSOLE_SCHEMAS: dict[str, Schema] = {
    "TestAlert": {"type": "object", "additionalProperties": False, "required": ["alert"],
                  "properties": {
                      "alert": {"type": "object", "description": "an alert in any dialect "
                                "(a token in it is ignored: the strategy is the path's)"},
                      "dry_run": {"type": "boolean", "default": True, "description":
                                  "false sends it for real (paper accounts only)"}}},
    "TestAccepted": _obj({"signal_id": _STR, "status": {"enum": ["accepted"]},
                          "dry_run": _BOOL}),
    "Whoami": _obj({**_KEY, "webhook_base_url": {
        **_STR, "description": "where webhooks are sent: the public listener's URL"}}),
    "Paused": _obj({"account_id": _STR, "paused": {"const": True}}),
    "Analytics": _obj({
        "signals": {"type": "integer"}, "dry_runs": {"type": "integer"},
        "executed": {"type": "integer"}, "failed": {"type": "integer"},
        "in_progress": {"type": "integer"},
        "success_rate": {**_NUM_OR_NULL, "description": "executed / (executed + failed)"},
        "latency_p50_ms": _NUM_OR_NULL, "latency_p99_ms": _NUM_OR_NULL,
        "error_reasons": {"type": "array", "items": _obj(
            {"code": _STR, "count": {"type": "integer"}, "example": _STR})},
        "orders": {"type": "integer"}, "filled": {"type": "integer"},
        "fill_rate": {**_NUM_OR_NULL, "description": "filled / orders (dry runs aside)"},
        "realised_pnl": _DECIMAL,
        "slippage_bps_avg": {**_DEC_OR_NULL, "description": "fill against the alert's "
                             "price, basis points, positive = worse"},
        "sl_hits": {"type": "integer"}, "leg_exits": {"type": "integer"},
        "sl_hit_rate": {**_NUM_OR_NULL, "description": "stop-loss exits / leg exits"},
        "equity_curve": {"type": "array", "items": _obj(
            {"time": {"type": "integer", "description": "Unix seconds"}, "value": _DECIMAL}),
            "description": "starting cash (with an account) plus cumulative realised P&L"},
        "strategies": {"type": "array", "items": _obj({
            "strategy_id": _STR, "signals": {"type": "integer"},
            "success_rate": _NUM_OR_NULL, "realised_pnl": _DECIMAL})},
        "truncated": _BOOL, "since": {"type": "number"}, "until": _NUM_OR_NULL}),
}


def _console_paths() -> Schema:
    """The web console's page and its built files (no credentials: the page signs in),
    and the operator actions and figures it uses."""
    account = [_path_param("account_id", ACCOUNT_ID)]
    strategy = [_path_param("strategy_id", STRATEGY_ID)]
    period = [p for p in openapi_signals.list_params()
              if p["name"] in ("strategy_id", "account_id", "symbol", "since", "until")]
    actions = {
        "/api/v1/accounts/{account_id}/pause": {
            "post": _op("Pause an account: its new signals fail until it is resumed",
                        _answers({200: ("Paused", "paused")}, *WRITE, 404),
                        tag="accounts", params=account)},
        "/api/v1/strategies/{strategy_id}/test": {
            "post": _op("Send a test alert to a strategy: a dry run, or real on a paper "
                        "account", _answers({202: ("TestAccepted", "in the pipeline")},
                                            *WRITE, 404, *BODY, 429, 503),
                        tag="strategies", params=strategy, body=_body(_ref("TestAlert")))},
        "/api/v1/analytics": {
            "get": _op("Signals, success rate, latency, errors, fills, P&L, slippage and "
                       "an equity curve over a period (last 7 days by default)", _answers(
                           {200: ("Analytics", "the period's figures")}, *READ, 422),
                       tag="signals", params=period)},
    }
    html = {"description": "the console's page (or how to build it)",
            "content": {"text/html": {"schema": _STR}}}
    name = {"name": "name", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,200}$"}}
    return {
        **actions,
        "/": {"get": _op("The web console", {"200": html}, tag="console", security=[])},
        "/assets/{name}": {"get": _op("A built file of the web console", {
            "200": {"description": "the file", "content": {"*/*": {"schema": _STR}}},
            **_answers({}, 404)}, tag="console", params=[name], security=[])},
    }


def _paths() -> Schema:
    tenant = [_path_param("tenant_id", TENANT_ID)]
    account = [_path_param("account_id", ACCOUNT_ID)]
    strategy = [_path_param("strategy_id", STRATEGY_ID)]
    key = [_path_param("key_id", API_KEY_ID)]
    return {
        "/webhook": {"post": _webhook("Universal webhook (routed by its credential)")},
        STRATEGY_ROUTE: {"post": _webhook("Webhook of one strategy", slug=True,
                                          tenant=True)},
        LEGACY_ROUTE: {"post": _webhook(
            "Webhook of one strategy by its slug alone (an alias while the slug is "
            "unique across tenants)", slug=True)},
        "/api/v1/webhooks/signals": {"post": _webhook("Universal webhook (alias)")},
        "/api/v1/tenants": {
            "post": _op("Create a tenant (global admin)", _answers(
                {201: ("Tenant" + VIEW, "created")}, *WRITE, *BODY, 409),
                tag="tenants", body=_body(_ref("TenantIn"))),
            "get": _op("Tenants the key sees", {"200": _json(
                {"type": "array", "items": _ref("Tenant" + VIEW)}, "tenants"),
                **_answers({}, *READ)}, tag="tenants"),
        },
        "/api/v1/tenants/{tenant_id}": {
            "get": _op("A tenant", _answers({200: ("Tenant" + VIEW, "the tenant")},
                                            *READ, 404), tag="tenants", params=tenant),
            "patch": _op("Change a tenant (global admin)", _answers(
                {200: ("Tenant" + VIEW, "changed")}, *WRITE, 404, *BODY),
                tag="tenants", params=tenant, body=_body(_ref("TenantPatch"))),
        },
        "/api/v1/tenants/{tenant_id}/disable": {
            "post": _op("Disable a tenant: its webhooks are refused, queued signals fail",
                        _answers({200: ("Tenant" + VIEW, "disabled")}, *WRITE, 404),
                        tag="tenants", params=tenant)},
        **_channel_paths(tenant),
        "/api/v1/accounts": {
            "post": _op("Open a broker account", _answers(
                {201: ("Account" + VIEW, "created (broker secret masked)")},
                *WRITE, 404, *BODY, 409), tag="accounts", body=_body(_ref("AccountCreate"))),
            "get": _op("Account configurations the key sees", {"200": _json(
                {"type": "array", "items": _ref("Account" + VIEW)}, "accounts"),
                **_answers({}, *READ)}, tag="accounts"),
        },
        "/api/v1/accounts/{account_id}": {
            "get": _op("Cash, equity, P&L and positions (account projection); with as_of, "
                       "as they were, with open orders and settings", {
                           "200": openapi_audit.account_answer(),
                           **_answers({}, *READ, 404, 422)},
                       tag="accounts", params=[*account, openapi_audit.AS_OF]),
            "patch": _op("Change an account's settings", _answers(
                {200: ("Account" + VIEW, "changed")}, *WRITE, 404, *BODY),
                tag="accounts", params=account, body=_body(_ref("AccountPatch"))),
        },
        "/api/v1/accounts/{account_id}/what-if": {
            "post": _op("What if: the account's recorded signals decided again, offline, with "
                        "changed settings (sizing, limits, SL/TP, trailing, breaker), beside "
                        "the recording", _answers(
                            {200: ("WhatIfReport", "recorded and replayed, side by side")},
                            *READ, 404, *BODY), tag="audit", params=account,
                        body=_body(_ref("WhatIfIn")))},
        "/api/v1/accounts/{account_id}/config": {
            "get": _op("An account's settings (broker secret masked)", _answers(
                {200: ("Account" + VIEW, "the settings")}, *READ, 404),
                tag="accounts", params=account)},
        "/api/v1/accounts/{account_id}/disable": {
            "post": _op("Disable an account: its signals fail from now on", _answers(
                {200: ("Account" + VIEW, "disabled")}, *WRITE, 404),
                tag="accounts", params=account)},
        "/api/v1/accounts/{account_id}/resume": {
            "post": _op("Resume an account the breaker paused", _answers(
                {200: ("Resumed", "resumed")}, *WRITE, 404), tag="accounts", params=account)},
        "/api/v1/strategies": {
            "post": _op("Register a strategy: its webhook URL, secret (once), TradingView "
                        "message", _answers({201: ("StrategyCreated", "created")},
                                            *WRITE, 404, *BODY),
                        tag="strategies", body=_body(_ref("StrategyCreate"))),
            "get": _op("Strategies the key sees (no secrets)", {"200": _json(
                {"type": "array", "items": _ref("Strategy" + VIEW)}, "strategies"),
                **_answers({}, *READ)}, tag="strategies"),
        },
        "/api/v1/strategies/{strategy_id}": {
            "get": _op("A strategy (no secrets); with as_of, its settings as they were",
                       {"200": openapi_audit.strategy_answer("Strategy" + VIEW),
                        **_answers({}, *READ, 404, 422)},
                       tag="strategies", params=[*strategy, openapi_audit.STRATEGY_AS_OF]),
            "patch": _op("Change a strategy (not its id, tenant, slug or secret)", _answers(
                {200: ("Strategy" + VIEW, "changed")}, *WRITE, 404, *BODY),
                tag="strategies", params=strategy, body=_body(_ref("StrategyPatch"))),
        },
        "/api/v1/strategies/{strategy_id}/disable": {
            "post": _op("Disable a strategy: its webhooks are refused at once", _answers(
                {200: ("Strategy" + VIEW, "disabled")}, *WRITE, 404),
                tag="strategies", params=strategy)},
        "/api/v1/strategies/{strategy_id}/rotate": {
            "post": _op("A new secret (answered once); the old one works for the overlap",
                        _answers({200: ("StrategyRotated", "rotated")}, *WRITE, 404, *BODY),
                        tag="strategies", params=strategy,
                        body=_body(_ref("Rotate"), required=False))},
        "/api/v1/apikeys": {
            "get": _op("Admin keys the caller may manage (admin role)", {"200": _json(
                {"type": "array", "items": _ref("ApiKey")}, "keys (never their hash)"),
                **_answers({}, *WRITE)}, tag="apikeys"),
            "post": _op("Create an admin key (answered once)", _answers(
                {201: ("ApiKeyCreated", "created")}, *WRITE, *BODY),
                tag="apikeys", body=_body(_ref("ApiKeyIn"), required=False)),
        },
        "/api/v1/whoami": {
            "get": _op("The caller's own key: id, role and tenant scope", _answers(
                {200: ("Whoami", "the caller")}, *READ), tag="apikeys")},
        "/api/v1/apikeys/{key_id}": {
            "delete": _op("Revoke an admin key at once", _answers(
                {200: ("ApiKeyRevoked", "revoked")}, *WRITE, 404), tag="apikeys", params=key)},
        "/api/v1/signals": {
            "get": _op("The signal history, newest first, a page at a time", _answers(
                {200: ("SignalPage", "one page and the cursor of the next")}, *READ, 422),
                tag="signals", params=openapi_signals.list_params())},
        "/api/v1/stream": {
            "get": _op("Live signal rows and account changes (server-sent events)", {
                "200": {"description": openapi_signals.STREAM_DESCRIPTION,
                        "content": {"text/event-stream": {"schema": _STR}}},
                **_answers({}, *READ, 422)}, tag="signals",
                params=openapi_signals.stream_params())},
        "/api/v1/signals/{signal_id}": {
            "get": _op("A signal's audit trail: every stored event in order", _answers(
                {200: ("SignalTrail", "the trail")}, *READ, 404),
                tag="signals", params=[_path_param("signal_id", SIGNAL_ID)])},
        "/api/v1/status": {
            "get": _op("Positions, open orders, breaker and strategies per account", _answers(
                {200: ("Status", "the accounts the key sees")}, *READ, 404, 503),
                tag="operations", params=[{"name": "account_id", "in": "query",
                                           "schema": _id_schema(ACCOUNT_ID),
                                           "description": "just this one"}])},
        "/api/v1/cleanup": {
            "post": _op("Cancel orphan SL/TP legs now (global admin)", _answers(
                {200: ("Cleanup", "the cancelled legs")}, *WRITE, 503), tag="operations")},
        "/api/v1/prices": {
            "post": _op("Market prices for the paper broker (global admin)", _answers(
                {202: ("PricesAccepted", "published")}, *WRITE, *BODY, 415, 503),
                tag="operations", body=_body(
                    {"anyOf": [_ref("PriceIn"), _ref("PricesIn")]}))},
        "/healthz": {"get": _op("Liveness: fails while the NATS connection is closed for "
                                "good and not yet replaced", _answers(
                                    {200: ("Health", "alive"),
                                     503: ("Health", "the NATS connection is closed")}),
                                tag="health", security=[])},
        "/readyz": {"get": _op("Readiness: NATS connected and the store answers", _answers(
            {200: ("Ready", "ready"), 503: ("Ready", "not ready")}), tag="health",
            security=[])},
        "/metrics": {"get": _op("Prometheus metrics", {"200": {
            "description": "Prometheus text exposition",
            "content": {"text/plain": {"schema": _STR}}}}, tag="health", security=[])},
        **_console_paths(),
        **openapi_audit.paths(_answers({}, *READ, 422), ADMIN),
        **openapi_callbacks.paths(_op, _answers, _json, _body, _path_param, WRITE, READ, BODY),
        "/openapi.json": {"get": _op("This document", {"200": _json(
            {"type": "object"}, "the OpenAPI document")}, tag="health", security=[])},
        "/asyncapi.json": {"get": _op(
            "The AsyncAPI 3 document of the events on NATS (subjects and payloads)",
            {"200": _json({"type": "object"}, "the AsyncAPI document")}, tag="health",
            security=[])},
    }


SECURITY_SCHEMES = {
    "adminKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                 "description": "an admin API key (`thk_…`)"},
    "adminBearer": {"type": "http", "scheme": "bearer",
                    "description": "an admin API key or an admin JWT"},
    "strategyToken": {"type": "apiKey", "in": "query", "name": "token",
                      "description": "the strategy secret (also accepted as `token` in "
                                     "the body)"},
    "strategyKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                    "description": "the strategy secret"},
    "strategyBearer": {"type": "http", "scheme": "bearer",
                       "description": "the strategy secret, or a JWT whose `sub` is the "
                                      "strategy (HS256 with the secret, or RS256/ES256/"
                                      "EdDSA with its `jwt_public_key`)"},
}


@cache
def document() -> Schema:
    """The OpenAPI document (built once per process)."""
    inputs = _pydantic_inputs()
    schemas: dict[str, Schema] = {}
    for part in (inputs, _request_schemas(inputs), _pydantic_views(), _msgspec_schemas(),
                 HAND_WRITTEN, CONSOLE_SCHEMAS, openapi_signals.schemas(),
                 openapi_audit.schemas(), openapi_callbacks.schemas()):
        # Two models of one name would silently replace each other's schema.
        clash = schemas.keys() & part.keys()
        if clash:
            raise ValueError(f"OpenAPI schema names used twice: {sorted(clash)}")
        schemas.update(part)
    return {
        "openapi": "3.1.0",
        "info": {"title": "tradehooks", "version": "1",
                 "description": "Trading-signal webhooks in, broker orders out. Errors are "
                                "always `{\"error\": code, \"message\": …}` (plus `field` "
                                "when one field is at fault). The webhook routes and the "
                                "health probes are served on the public listener "
                                "(`TRADEHOOKS_HTTP_PORT`); every other route only on the "
                                "operator listener (`TRADEHOOKS_OPERATOR_HOST`:"
                                "`TRADEHOOKS_OPERATOR_PORT`, loopback by default)."},
        "paths": _with_request_line_limit(_paths()),
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }


# aiohttp refuses a request line or header over 8190 bytes before any route runs
# (a plain-text 400): every operation can answer it.
_LINE_TOO_LONG = {"description": "the request line or a header is longer than 8190 bytes "
                                 "(refused before routing, as plain text)"}


def _with_request_line_limit(paths: Schema) -> Schema:
    """Every operation documents the 400 of an over-long request line."""
    for item in paths.values():
        for operation in item.values():
            operation["responses"].setdefault("400", _LINE_TOO_LONG)
    return paths


async def asyncapi_json(_: web.Request) -> web.Response:
    """``GET /asyncapi.json``: the events on NATS (no credentials needed)."""
    return web.json_response(asyncapi.document())


async def openapi_json(_: web.Request) -> web.Response:
    """``GET /openapi.json``: this document (no credentials needed)."""
    return web.json_response(document())
