"""Standard Webhooks signatures: what a sender puts in ``webhook-signature``.

The signed content is ``{webhook-id}.{webhook-timestamp}.{raw body}``, HMAC-SHA256
with the key of a ``whsec_`` secret, sent as ``v1,<base64>``; several signatures are
separated by spaces (a sender signs with old and new secret during a rotation).
Ingress verifies webhooks with it; the dispatcher signs callbacks with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

from libs.registry.secrets import signing_key


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one message with one secret."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: Iterable[str], webhook_id: str, timestamp: int,
                     body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per secret, space-separated."""
    return " ".join(sign(secret, webhook_id, timestamp, body) for secret in secrets)
