"""The OpenAPI part of the callback endpoint routes: their bodies and answers from
the :class:`~libs.registry.models.CallbackEndpoint` model, and the operations."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pydantic.json_schema import models_json_schema

from contracts.identifiers import CALLBACK_ID, Shape
from libs.registry.models import CallbackEndpoint
from services.api import admin_callbacks
from services.api.admin_strategies import MAX_OVERLAP_S

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
        "CallbackRotate": {"type": "object", "additionalProperties": False, "properties": {
            "overlap_s": {"type": "number", "minimum": 0, "maximum": MAX_OVERLAP_S,
                          "default": 3600, "description": "seconds deliveries are signed "
                          "with the old secret too"}}},
    }


Op = Callable[..., Schema]


def paths(op: Op, answers: Callable[..., Schema], json: Callable[[Schema, str], Schema],
          body: Callable[..., Schema], path_param: Callable[[str, Shape], Schema],
          write: tuple[int, ...], read: tuple[int, ...], body_errors: tuple[int, ...]
          ) -> Schema:
    """The callback operations, built with the main document's helpers."""
    one = [path_param("callback_id", CALLBACK_ID)]
    tag = "callbacks"
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
    }
