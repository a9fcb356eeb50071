"""The OpenAPI part of the callback endpoint routes: their bodies and answers from
the :class:`~libs.registry.models.CallbackEndpoint` model, and the operations."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pydantic.json_schema import models_json_schema

from contracts.identifiers import CALLBACK_ID, DELIVERY_ID, Shape
from libs.registry.models import CallbackEndpoint
from services.api import admin_callbacks
from services.api.admin_common import MAX_OVERLAP_S

Schema = dict[str, Any]
REF = "#/components/schemas/"
_STR = {"type": "string"}
MODEL = "CallbackEndpoint"
VIEW = MODEL + "View"


def _ref(name: str) -> Schema:
    return {"$ref": REF + name}


def _model_schemas() -> dict[str, Schema]:
    """The model as a body reads it and as an answer shows it (no secrets)."""
    _, inputs = models_json_schema([(CallbackEndpoint, "validation")],
                                   ref_template=REF + "{model}")
    _, views = models_json_schema([(CallbackEndpoint, "serialization")],
                                  ref_template=REF + "{model}" + "View")
    model = inputs["$defs"][MODEL]
    model["additionalProperties"] = False
    view = views["$defs"][MODEL]
    for secret in ("secret", "previous_secret"):
        del view["properties"][secret]
    view["required"] = list(view["properties"])
    view["additionalProperties"] = False
    return {MODEL: model, VIEW: view}


def _without(schema: Schema, fields: frozenset[str], required: tuple[str, ...] = ()) -> Schema:
    out = copy.deepcopy(schema)
    out["properties"] = {k: v for k, v in out["properties"].items() if k not in fields}
    out.pop("required", None)
    if required:
        out["required"] = list(required)
    return out


def schemas() -> dict[str, Schema]:
    """The callback endpoint's schemas: the model, its view, create and patch bodies,
    and the answers of create and rotate."""
    models = _model_schemas()
    secret = {**_STR, "description": "the endpoint's whsec_ signing secret, shown once"}
    return {
        **models,
        "CallbackEndpointCreate": _without(models[MODEL], admin_callbacks.SERVER_SET,
                                           ("tenant_id", "url")),
        "CallbackEndpointPatch": _without(models[MODEL], admin_callbacks.FIXED),
        "NewCallbackEndpoint": {"type": "object", "additionalProperties": False,
                                "required": ["callback", "secret"],
                                "properties": {"callback": _ref(VIEW), "secret": secret}},
        "RotatedCallbackEndpoint": {"type": "object", "additionalProperties": False,
                                    "required": ["callback", "secret"],
                                    "properties": {"callback": _ref(VIEW), "secret": secret}},
        "CallbackDelivery": _delivery(),
        "CallbackDeliveries": {"type": "object", "additionalProperties": False,
                               "required": ["deliveries", "truncated"], "properties": {
                                   "deliveries": {"type": "array",
                                                  "items": _ref("CallbackDelivery")},
                                   "truncated": {"type": "boolean"}}},
        "CallbackRedelivered": _redelivered(),
        "CallbackRedeliveredRange": {
            "type": "object", "additionalProperties": False,
            "required": ["deliveries", "truncated"], "properties": {
                "deliveries": {"type": "array", "items": _redelivered()},
                "truncated": {"type": "boolean", "description": "more matched than one "
                              "request redelivers (1000): ask again for the rest"}}},
        "CallbackRedeliverRange": {
            "type": "object", "additionalProperties": False, "required": ["since"],
            "properties": {"since": _TIME, "until": _TIME, "status": _STATUS}},
        "CallbackRotate": {"type": "object", "additionalProperties": False, "properties": {
            "overlap_s": {"type": "number", "minimum": 0, "maximum": MAX_OVERLAP_S,
                          "default": 3600, "description": "seconds deliveries are signed "
                          "with the old secret too"}}},
    }


_TIME = {"type": "string", "maxLength": 64,
         "description": "ISO 8601 time (UTC unless it names a zone)"}
_STATUS = {"enum": ["pending", "delivered", "parked"]}
_TIME_OR_NULL = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}


def _delivery() -> Schema:
    """A delivery record (:class:`libs.callbacks.deliveries.DeliveryRecord`)."""
    text, number = {"type": "string"}, {"type": "integer"}
    props = {
        "delivery_id": text, "endpoint_id": text, "tenant_id": text,
        "source_event_id": {**text, "description": "the webhook-id"},
        "source_type": text, "signal_id": text,
        "requested_at": {"type": "string", "format": "date-time"},
        "request_seq": number, "status": _STATUS, "attempts": number,
        "last_attempt_at": _TIME_OR_NULL, "next_attempt_at": _TIME_OR_NULL,
        "last_status_code": number, "last_error": text, "ended_at": _TIME_OR_NULL,
        "redelivery_of": text}
    return {"type": "object", "additionalProperties": False, "required": list(props),
            "properties": props}


def _redelivered() -> Schema:
    return {"type": "object", "additionalProperties": False,
            "required": ["delivery_id", "redelivery_of"],
            "properties": {"delivery_id": _STR, "redelivery_of": _STR}}


Op = Callable[..., Schema]


def paths(op: Op, answers: Callable[..., Schema], json: Callable[[Schema, str], Schema],
          body: Callable[..., Schema], path_param: Callable[[str, Shape], Schema],
          write: tuple[int, ...], read: tuple[int, ...], body_errors: tuple[int, ...]
          ) -> Schema:
    """The callback operations, built with the main document's helpers."""
    one = [path_param("callback_id", CALLBACK_ID)]
    delivery = [*one, path_param("delivery_id", DELIVERY_ID)]
    query = [{"name": "status", "in": "query", "schema": _STATUS},
             {"name": "since", "in": "query", "schema": _TIME,
              "description": "requested at or after"},
             {"name": "until", "in": "query", "schema": _TIME, "description": "before"},
             {"name": "limit", "in": "query",
              "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}]
    tag = "callbacks"

    def redelivery(ok: dict[int, tuple[str, str]], *errors: int) -> Schema:
        out = answers(ok, *errors)
        out["409"] = {**out["409"], "description": "the endpoint is disabled, or the "
                      "delivery's request is no longer in the stream"}
        return out

    return {
        "/api/v1/callbacks": {
            "post": op("Register a callback endpoint: its signing secret is answered once",
                       answers({201: ("NewCallbackEndpoint", "created")},
                               *write, 404, *body_errors),
                       tag=tag, body=body(_ref("CallbackEndpointCreate"))),
            "get": op("Callback endpoints the key sees (no secrets)", {"200": json(
                {"type": "array", "items": _ref(VIEW)}, "callback endpoints"),
                **answers({}, *read)}, tag=tag),
        },
        "/api/v1/callbacks/{callback_id}": {
            "get": op("A callback endpoint (no secrets)", answers(
                {200: (VIEW, "the endpoint")}, *read, 404), tag=tag, params=one),
            "patch": op("Change a callback endpoint (URL, event types, filters, enabled)",
                        answers({200: (VIEW, "changed")}, *write, 404, *body_errors),
                        tag=tag, params=one, body=body(_ref("CallbackEndpointPatch"))),
        },
        "/api/v1/callbacks/{callback_id}/disable": {
            "post": op("Disable a callback endpoint: nothing more is delivered to it",
                       answers({200: (VIEW, "disabled")}, *write, 404), tag=tag, params=one)},
        "/api/v1/callbacks/{callback_id}/rotate": {
            "post": op("A new signing secret (answered once); deliveries carry signatures "
                       "of both for the overlap",
                       answers({200: ("RotatedCallbackEndpoint", "rotated")},
                               *write, 404, *body_errors),
                       tag=tag, params=one, body=body(_ref("CallbackRotate"), required=False))},
        "/api/v1/callbacks/{callback_id}/deliveries": {
            "get": op("The endpoint's delivery log, newest first (kept 30 days)", answers(
                {200: ("CallbackDeliveries", "deliveries")}, *read, 404, 422),
                tag=tag, params=[*one, *query])},
        "/api/v1/callbacks/{callback_id}/deliveries/{delivery_id}": {
            "get": op("One delivery: status, attempts, last answer", answers(
                {200: ("CallbackDelivery", "the delivery")}, *read, 404),
                tag=tag, params=delivery)},
        "/api/v1/callbacks/{callback_id}/deliveries/{delivery_id}/redeliver": {
            "post": op("Deliver the event again (a new delivery, same webhook-id)", redelivery(
                {202: ("CallbackRedelivered", "requested")}, *write, 404, 409),
                tag=tag, params=delivery)},
        "/api/v1/callbacks/{callback_id}/redeliver": {
            "post": op("Deliver again every delivery requested in [since, until) (with "
                       "that status), up to 1000", redelivery(
                           {202: ("CallbackRedeliveredRange", "requested")},
                           *write, 404, 409, *body_errors),
                       tag=tag, params=one, body=body(_ref("CallbackRedeliverRange")))},
    }
