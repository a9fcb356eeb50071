"""Credentials in request headers: ``X-API-Key`` or ``Authorization: Bearer <secret>``.

Bots present their strategy's secret this way on the webhook edge, operators their
admin key on the operator API; both read headers through these functions.
"""

from __future__ import annotations


def header_text(value: str) -> str:
    """A header value safe to encode: aiohttp keeps undecodable bytes as lone
    surrogates, which ``str.encode()`` refuses. They become U+FFFD (as aiohttp
    already does in query strings); generated secrets are ASCII, so such a value
    can never match one."""
    return value.encode("utf-8", "replace").decode("utf-8")


def header_credential(authorization: str | None, api_key: str | None) -> str | None:
    """The credential a caller put in its headers, if any."""
    if api_key:
        return header_text(api_key).strip()
    if authorization and authorization[:7].lower() == "bearer ":
        return header_text(authorization[7:]).strip()
    return None


def looks_like_jwt(credential: str) -> bool:
    """Three dot-separated parts starting with a JSON header."""
    return credential.count(".") == 2 and credential.startswith("eyJ")
