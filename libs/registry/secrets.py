"""Strategy secrets: generation and fingerprints (never the secret itself)."""

from __future__ import annotations

import base64
import hashlib
import secrets as _secrets
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def new_secret() -> str:
    """A Standard-Webhooks style secret: ``whsec_`` + base64 of 32 random bytes.

    The URL-safe alphabet without padding is used so the secret survives being
    pasted into a ``?token=`` query string (``+`` would turn into a space).
    """
    return "whsec_" + base64.urlsafe_b64encode(_secrets.token_bytes(32)).decode().rstrip("=")


def fingerprint(secret: str) -> str:
    """Short, non-reversible id of a secret, safe to put in events and logs."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def lookup_key(secret: str) -> str:
    """Index key for finding a strategy by its token without comparing every secret."""
    return hashlib.sha256(b"tradehooks-token:" + secret.encode()).hexdigest()


def signing_key(secret: str) -> bytes:
    """HMAC key bytes: the base64 part of a ``whsec_`` secret, else the raw text."""
    if secret.startswith("whsec_"):
        body = secret.removeprefix("whsec_")
        padded = body + "=" * (-len(body) % 4)
        try:
            if "-" in body or "_" in body:
                return base64.urlsafe_b64decode(padded)
            return base64.b64decode(padded, validate=True)
        except ValueError:
            pass
    return secret.encode()


def rotated(record: M, current_secret: str, until: datetime) -> M:
    """``record`` (a strategy or a callback endpoint) with a new secret; the current
    one stays valid as ``previous_secret`` until ``until``."""
    return record.model_copy(update={"secret": new_secret(), "previous_secret": current_secret,
                                     "previous_valid_until": until})
