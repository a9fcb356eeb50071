"""The AsyncAPI document: every event on its subject, payloads that hold real events,
and the committed copy in docs/ the same as the one served."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import jsonschema_rs
import pytest

from contracts.asyncapi import document
from contracts.events import AnyEvent, Event, encode_event
from contracts.subjects import event_type, subject_for
from services.api.console.dump_openapi import dumped_asyncapi
from tests.factories import sample_of

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE: tuple[type[Event], ...] = get_args(AnyEvent)


def test_the_committed_document_is_the_generated_one() -> None:
    committed = (ROOT / "docs" / "asyncapi.json").read_text()
    assert committed == dumped_asyncapi(), "run make console-api"


def test_every_event_has_one_channel_and_a_receive_operation() -> None:
    doc = document()
    names = {message["name"] for message in doc["components"]["messages"].values()}
    assert names == {event_type(cls) for cls in CATALOGUE}
    assert len(doc["channels"]) == len(CATALOGUE) == len(doc["operations"])
    for operation in doc["operations"].values():
        assert operation["action"] == "receive"
        channel = operation["channel"]["$ref"].removeprefix("#/channels/")
        assert channel in doc["channels"]


def _channel_of(cls: type[Event]) -> dict[str, Any]:
    return next(channel for channel in document()["channels"].values()
                if cls.__name__ in channel["messages"])


@pytest.mark.parametrize("cls", CATALOGUE, ids=[event_type(c) for c in CATALOGUE])
def test_a_real_event_is_published_where_its_channel_says(cls: type[Event]) -> None:
    channel = _channel_of(cls)
    event = sample_of(cls)
    # Each {parameter} is one subject token; the parameters are exactly those named.
    params = re.findall(r"\{(\w+)\}", channel["address"])
    assert set(params) == set(channel["parameters"])
    pattern = re.escape(channel["address"])
    for name in params:
        pattern = pattern.replace(re.escape(f"{{{name}}}"), r"[A-Za-z0-9_-]+")
    assert re.fullmatch(pattern, subject_for(event)), (channel["address"], subject_for(event))


@pytest.mark.parametrize("cls", CATALOGUE, ids=[event_type(c) for c in CATALOGUE])
def test_a_real_event_holds_to_its_payload_schema(cls: type[Event]) -> None:
    doc = document()
    root = {"$ref": f"#/components/schemas/{cls.__name__}",
            "components": {"schemas": doc["components"]["schemas"]}}
    validator = jsonschema_rs.Draft202012Validator(root)
    payload = json.loads(encode_event(sample_of(cls)))
    errors = [str(e) for e in validator.iter_errors(payload)]
    assert not errors, errors
    # And a payload the schema must refuse: the wrong type tag.
    assert not validator.is_valid({**payload, "type": "not.an.event"})
