"""The AsyncAPI 3 document of the public subjects: every event of the catalogue, on
the subject it is published on, with its payload schema.

Generated from :mod:`contracts.events` and :mod:`contracts.subjects`, so it cannot
drift from what the services publish. The operator service serves it at
``/asyncapi.json``; ``docs/asyncapi.json`` is the same document, committed (a test
compares them).
"""

from __future__ import annotations

import inspect
from typing import Any, get_args

import msgspec

from contracts.events import AnyEvent, Event
from contracts.subjects import SUBJECT_TOKENS, event_type, subject_template

Document = dict[str, Any]
_SCHEMA_REF = "#/components/schemas/{name}"
_PARAMETERS = {
    "tenant": "the tenant's id",
    "account": "the account's id, `_` when the event has none",
    "strategy": "the strategy's id, `_` when the event has none",
    "endpoint": "the callback endpoint's id",
}
# Subject tokens are ids made safe: characters outside [A-Za-z0-9_-] become `_`.
_SAFE_CHARACTERS = "; characters other than letters, digits, `_` and `-` become `_`"


def _channel_id(cls: type[Event]) -> str:
    return event_type(cls).replace(".", "_")


def _summary(cls: type[Event]) -> str:
    return (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")


def document() -> Document:
    """The AsyncAPI 3.0 document (plain JSON-safe values)."""
    classes: tuple[type[Event], ...] = get_args(AnyEvent)
    _, schemas = msgspec.json.schema_components(classes, ref_template=_SCHEMA_REF)
    channels: Document = {}
    operations: Document = {}
    messages: Document = {}
    for cls in classes:
        name, channel = cls.__name__, _channel_id(cls)
        messages[name] = {
            "name": event_type(cls), "title": name, "summary": _summary(cls),
            "contentType": "application/json",
            "payload": {"$ref": _SCHEMA_REF.format(name=name)},
        }
        channels[channel] = {
            "address": subject_template(cls),
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "parameters": {token: {"description": _PARAMETERS[token] + _SAFE_CHARACTERS}
                           for token in SUBJECT_TOKENS[cls]},
        }
        operations[f"receive_{channel}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"Subscribe to {event_type(cls)}",
            "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "tradehooks events", "version": "1",
            "description": (
                "Every fact tradehooks records, published on NATS JetStream (stream "
                "`TRADEHOOKS`). Subscribe with wildcards, e.g. `webhook.*.acme.>` for "
                "one tenant's signal lifecycle. Events are JSON, tagged by `type`; "
                "decimals are strings; unknown fields must be ignored (events gain "
                "fields, never change them). Every event carries `event_id` (unique: "
                "de-duplicate on it), `signal_id` (the correlation id of one alert's "
                "trail), `tenant_id`, `occurred_at` and `schema_version`."),
        },
        "defaultContentType": "application/json",
        "servers": {"nats": {"host": "localhost:4222", "protocol": "nats",
                             "description": "the NATS server or cluster of a deployment"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
