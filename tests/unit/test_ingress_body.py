"""Reading alert bodies, stripping credentials and the dedupe key."""

from __future__ import annotations

import re

import pytest

from contracts.dialects.fields import without_credentials
from libs.http.problems import Problem
from libs.intake.dedupe import dedupe_key
from services.ingress.body import parse_payload

KV_KEY = re.compile(r"[-/_=.a-zA-Z0-9]+")


def problem(raw: bytes, content_type: str) -> Problem:
    with pytest.raises(Problem) as caught:
        parse_payload(raw, content_type)
    return caught.value


@pytest.mark.parametrize("content_type", ["application/json", "text/json"])
def test_json_object_is_parsed(content_type: str) -> None:
    raw = '{"symbol": "AAPL", "qty": 1.5, "note": "café"}'.encode()

    assert parse_payload(raw, content_type) == {"symbol": "AAPL", "qty": 1.5, "note": "café"}


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data", "application/xml",
     "application/octet-stream", "text/html"],
)
def test_other_content_types_are_415(content_type: str) -> None:
    error = problem(b'{"a": 1}', content_type)

    assert (error.status, error.code) == (415, "unsupported_media_type")
    assert content_type in error.message


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
@pytest.mark.parametrize("raw", [b"", b"   ", b"\n\t\r\n"])
def test_empty_body_is_400(raw: bytes, content_type: str) -> None:
    error = problem(raw, content_type)

    assert (error.status, error.code) == (400, "empty_body")


@pytest.mark.parametrize("raw", [b'{"symbol": "AAPL",', b"symbol=AAPL", b"{'a': 1}"])
def test_malformed_json_is_400(raw: bytes) -> None:
    error = problem(raw, "application/json")

    assert (error.status, error.code) == (400, "malformed_json")


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"42", b"null", b"true"])
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_json_that_is_not_an_object_is_400(raw: bytes, content_type: str) -> None:
    error = problem(raw, content_type)

    assert (error.status, error.code) == (400, "not_an_object")


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_invalid_utf8_is_400(content_type: str) -> None:
    error = problem(b'{"symbol": "\xff\xfe"}', content_type)

    assert (error.status, error.code) == (400, "bad_encoding")


def test_json_sent_as_text_plain_is_accepted() -> None:
    raw = b'{"strategy": "Gold", "signal": "BUY", "confidence": 0.8}'

    assert parse_payload(raw, "text/plain") == {
        "strategy": "Gold", "signal": "BUY", "confidence": 0.8,
    }


@pytest.mark.parametrize("content_type", ["text/plain", ""])
def test_key_value_text_is_accepted(content_type: str) -> None:
    raw = b"symbol=AAPL\naction: buy;quantity = 3\r\nnot a pair\n"

    assert parse_payload(raw, content_type) == {"symbol": "AAPL", "action": "buy",
                                                "quantity": "3"}


def test_text_without_pairs_is_400_and_does_not_echo_the_body() -> None:
    error = problem(b"whsec_topsecret buy now", "text/plain")

    assert (error.status, error.code) == (400, "unparsable_body")
    assert "whsec_topsecret" not in error.message


def test_problem_response_body() -> None:
    error = Problem(422, "invalid_field", "price: must be greater than 0", field="price")

    response = error.response()

    assert response.status == 422
    assert response.text is not None
    assert '"error": "invalid_field"' in response.text
    assert '"field": "price"' in response.text


def test_without_credentials_drops_token_and_secret_only() -> None:
    payload = {"token": "whsec_x", "secret": "s", "symbol": "AAPL", "tokens": 3}

    clean = without_credentials(payload)

    assert clean == {"symbol": "AAPL", "tokens": 3}
    assert payload["token"] == "whsec_x"  # the input is not modified


# --- dedupe_key -----------------------------------------------------------------------


def test_same_sender_id_gives_the_same_key_whatever_the_body() -> None:
    assert dedupe_key("s1", "msg_1", b'{"a": 1}') == dedupe_key("s1", "msg_1", b'{"a": 2}')


def test_without_id_the_body_decides() -> None:
    first = dedupe_key("s1", "", b'{"a": 1}')

    assert first == dedupe_key("s1", "", b'{"a": 1}')
    assert first != dedupe_key("s1", "", b'{"a": 2}')
    assert first != dedupe_key("s1", "", b'{"a":1}')  # exact bytes, not meaning


def test_different_ids_give_different_keys() -> None:
    assert dedupe_key("s1", "msg_1", b"x") != dedupe_key("s1", "msg_2", b"x")


def test_different_strategies_give_different_keys() -> None:
    assert dedupe_key("s1", "msg_1", b"x") != dedupe_key("s2", "msg_1", b"x")
    assert dedupe_key("s1", "", b"x") != dedupe_key("s2", "", b"x")


def test_an_id_never_collides_with_a_body_that_spells_it() -> None:
    assert dedupe_key("s1", "msg_1", b"") != dedupe_key("s1", "", b"id:msg_1")
    assert dedupe_key("s1", "msg_1", b"") != dedupe_key("s1", "", b"msg_1")


@pytest.mark.parametrize(
    ("strategy_id", "sender_id", "body"),
    [("s1", "msg 1 with spaces.*>", b""), ("tenant.a/b", "", b"\x00\xff body"),
     ("", "", b"")],
)
def test_key_is_a_valid_kv_key(strategy_id: str, sender_id: str, body: bytes) -> None:
    key = dedupe_key(strategy_id, sender_id, body)

    assert KV_KEY.fullmatch(key)
    assert not key.startswith(".")
    assert not key.endswith(".")
    assert sender_id not in key or not sender_id
