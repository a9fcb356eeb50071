"""Turning request bytes into a payload: any bytes in -> a dict or a documented 4xx."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from fuzz.alerts import JSON_VALUES
from hypothesis import example, given
from hypothesis import strategies as st

from libs.http.problems import Problem
from services.ingress.body import parse_payload

CONTENT_TYPES = ["application/json", "text/json", "text/plain", "", "application/xml",
                 "multipart/form-data"]
# Every answer parse_payload may give, as documented in docs/http-api.md.
DOCUMENTED = {
    (400, "empty_body"), (400, "bad_encoding"), (400, "malformed_json"),
    (400, "not_an_object"), (400, "unparsable_body"), (415, "unsupported_media_type"),
    (422, "duplicate_field"),
}


def answer(raw: bytes, content_type: str) -> dict[str, Any] | Problem:
    try:
        return parse_payload(raw, content_type)
    except Problem as problem:
        return problem


def json_documents() -> st.SearchStrategy[bytes]:
    """Valid JSON texts (objects mostly), with the spacing senders use."""
    objects = st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=6)
    return st.one_of(objects, JSON_VALUES).map(
        lambda value: json.dumps(value, ensure_ascii=False).encode())


@given(st.one_of(st.binary(max_size=300), json_documents(),
                 st.text(max_size=200).map(str.encode)),
       st.sampled_from(CONTENT_TYPES))
@example(b"[" * 100_000, "application/json")
@example(b"[" * 100_000, "text/plain")
@example(b'{"a": NaN}', "application/json")
@example(b'{"a": -Infinity}', "text/plain")
@example(b'{"quantity": 1e400}', "application/json")
@example(b'{"a": 1, "a": 2}', "application/json")
@example(b"a=1\na=2", "text/plain")
@example(b"\xef\xbb\xbf{}", "application/json")  # a UTF-8 byte order mark
@example(b'{"a": "\\ud800"}', "application/json")  # a lone surrogate escape
def test_any_bytes_give_a_payload_or_a_documented_problem(raw: bytes,
                                                          content_type: str) -> None:
    result = answer(raw, content_type)

    if isinstance(result, Problem):
        assert (result.status, result.code) in DOCUMENTED, (result.status, result.code)
        assert result.message
        body = orjson.loads(result.response().body)  # type: ignore[arg-type]
        assert body["error"] == result.code and body["message"] == result.message
    else:
        assert isinstance(result, dict)
        assert all(isinstance(key, str) for key in result)
        # Whatever is accepted can be stored: it encodes as JSON again.
        assert orjson.loads(orjson.dumps(result)) == result


@given(st.dictionaries(st.text(max_size=10), JSON_VALUES, min_size=1, max_size=5),
       st.data())
def test_a_repeated_key_is_refused_at_any_depth(obj: dict[str, Any], data: st.DataObject
                                                 ) -> None:
    key = data.draw(st.sampled_from(sorted(obj)))
    members = [json.dumps(k) + ": " + json.dumps(v) for k, v in obj.items()]
    members.append(json.dumps(key) + ": " + json.dumps(data.draw(JSON_VALUES)))
    document = "{" + ", ".join(members) + "}"
    nested = data.draw(st.booleans())
    raw = ('{"outer": ' + document + "}" if nested else document).encode()

    result = answer(raw, "application/json")

    assert isinstance(result, Problem)
    assert (result.status, result.code, result.extra["field"]) == (
        422, "duplicate_field", key[:100])


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_non_finite_numbers_are_malformed_json(literal: str, content_type: str) -> None:
    raw = f'{{"symbol": "AAPL", "quantity": {literal}}}'.encode()

    result = answer(raw, content_type)

    assert isinstance(result, Problem)
    assert (result.status, result.code) == (400, "malformed_json")


def test_json_looking_text_is_reported_as_broken_json_not_read_as_pairs() -> None:
    """A TradingView message whose JSON template is broken arrives as text/plain."""
    result = answer(b'{"symbol": "AAPL", "comment": "say "hi""}', "text/plain")

    assert isinstance(result, Problem)
    assert (result.status, result.code) == (400, "malformed_json")
    assert "line 1" in result.message
