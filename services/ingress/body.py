"""Reading an alert body: size limit, read deadline, content type, JSON or TradingView text.

What a hostile body gets (every answer is ``{"error", "message"}``, never a 5xx):
over the size limit 413 (refused from Content-Length before reading, or as soon as
a chunked body passes it), slower than the read deadline 408, not UTF-8 or not JSON
400, NaN / Infinity / 1e400 / nesting deeper than the parser's limit 400, a key sent
twice in one object (JSON) or message (text) 422.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
from aiohttp import web

from contracts.dialects import AlertError, DuplicateFieldError, parse_text_message
from contracts.dialects.coerce import show
from libs.http.problems import Problem

JSON_TYPES = {"application/json", "text/json"}
TEXT_TYPES = {"text/plain", ""}
# TradingView cancels a request after 3 s; a body still arriving after 2 s is a
# slow client (or slowloris) and would not be answered in time anyway.
BODY_READ_TIMEOUT_S = 2.0
# A repeated key is named in the answer's ``field``; attackers choose its length.
_FIELD_CHARS = 100


def declared_content_type(request: web.Request) -> str:
    """The media type the client declared; "" when it sent no Content-Type at all
    (aiohttp would report that as application/octet-stream)."""
    if "Content-Type" not in request.headers:
        return ""
    return request.content_type


async def read_body(request: web.Request, max_bytes: int,
                    timeout_s: float = BODY_READ_TIMEOUT_S) -> bytes:
    """The raw body, refusing more than ``max_bytes`` without reading it all (413) and
    a body that has not fully arrived within ``timeout_s`` (408)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise Problem(413, "body_too_large", f"body exceeds {max_bytes} bytes")
    content = request.content
    if content.is_eof():
        # The whole body came with the headers (an alert usually does): take it as
        # it is, without a read deadline or chunk iteration (a tenth of a request's
        # CPU at ingress).
        raw = content.read_nowait()
        if len(raw) > max_bytes:
            raise Problem(413, "body_too_large", f"body exceeds {max_bytes} bytes")
        return raw
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.content.iter_chunked(16 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise Problem(413, "body_too_large", f"body exceeds {max_bytes} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise Problem(408, "body_timeout",
                      f"the body did not arrive within {timeout_s:g} s") from None
    return b"".join(chunks)


def parse_payload(raw: bytes, content_type: str) -> dict[str, Any]:
    """JSON object, or TradingView's ``key=value`` text when it is not JSON."""
    if content_type not in JSON_TYPES and content_type not in TEXT_TYPES:
        raise Problem(415, "unsupported_media_type",
                      f"content type {content_type!r} is not accepted; "
                      "send application/json or text/plain")
    if not raw.strip():
        raise Problem(400, "empty_body", "the request body is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(400, "bad_encoding", "the body is not valid UTF-8") from exc
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # TradingView sends text/plain whenever its message is not valid JSON, so a
        # broken JSON template arrives as text: say so instead of reading garbage pairs.
        if content_type in JSON_TYPES or text.lstrip().startswith(("{", "[")):
            raise Problem(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc
        return _text_pairs(text)
    if not isinstance(value, dict):
        raise Problem(400, "not_an_object", "the alert must be a JSON object")
    _refuse_duplicate_keys(text)
    return value


def _text_pairs(text: str) -> dict[str, Any]:
    try:
        return parse_text_message(text)
    except DuplicateFieldError as err:
        raise Problem(422, "duplicate_field", err.message,
                      field=err.field[:_FIELD_CHARS]) from err
    except AlertError as err:
        raise Problem(400, "unparsable_body",
                      "the body is neither JSON nor key=value lines") from err


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


# Made once: json.loads(text, object_pairs_hook=...) builds a decoder per call.
_PAIRS_DECODER = json.JSONDecoder(object_pairs_hook=_unique_pairs)


def _refuse_duplicate_keys(text: str) -> None:
    """422 when any object of an already valid JSON body repeats a key.

    orjson (like most parsers) silently keeps the last value; an alert with two
    ``action`` fields is ambiguous, and another parser on the way may keep the first.
    """
    try:
        _PAIRS_DECODER.decode(text)
    except _DuplicateKey as dup:
        raise Problem(422, "duplicate_field",
                      f"{show(dup.key)} is sent more than once in one object; "
                      "send each field once", field=dup.key[:_FIELD_CHARS]) from None
    except RecursionError:
        # orjson allows 1024 levels, the stdlib parser fewer: no alert nests this deep.
        raise Problem(400, "malformed_json", "the body is nested too deeply") from None
