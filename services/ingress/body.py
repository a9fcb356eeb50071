"""Reading an alert body: size limit, content type, JSON or TradingView text."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from contracts.dialects import AlertError, parse_text_message
from services.ingress.problems import Problem

JSON_TYPES = {"application/json", "text/json"}
TEXT_TYPES = {"text/plain", ""}
# Credentials may ride in the body (TradingView cannot set headers); they are
# removed before the payload is stored anywhere.
CREDENTIAL_FIELDS = ("token", "secret")


def declared_content_type(request: web.Request) -> str:
    """The media type the client declared; "" when it sent no Content-Type at all
    (aiohttp would report that as application/octet-stream)."""
    if "Content-Type" not in request.headers:
        return ""
    return request.content_type


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """The raw body, refusing more than ``max_bytes`` without reading it all."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise Problem(413, "body_too_large", f"body exceeds {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise Problem(413, "body_too_large", f"body exceeds {max_bytes} bytes")
        chunks.append(chunk)
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
        if content_type in JSON_TYPES:
            raise Problem(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc
        try:
            return parse_text_message(text)
        except AlertError as err:
            raise Problem(400, "unparsable_body",
                          "the body is neither JSON nor key=value lines") from err
    if not isinstance(value, dict):
        raise Problem(400, "not_an_object", "the alert must be a JSON object")
    return value


def without_credentials(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with any credential fields removed."""
    return {k: v for k, v in payload.items() if k.lower() not in CREDENTIAL_FIELDS}
