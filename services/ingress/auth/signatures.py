"""Who sent this alert: body/query token or Standard Webhooks HMAC signature (the
signing itself is :mod:`libs.http.standard_webhooks`, shared with the dispatcher)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from libs.http.credentials import header_text
from libs.http.standard_webhooks import sign
from libs.registry.models import Strategy


class AuthError(Exception):
    """Credentials missing or wrong; the message never contains a secret."""


# Unix seconds as the spec sends them; int() would also take " 1_7e9", Arabic-Indic
# digits or 400 digits that overflow the float comparison with the clock.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_MAX_WEBHOOK_ID = 256



@dataclass(frozen=True)
class SignedHeaders:
    """The three Standard Webhooks headers."""

    webhook_id: str
    timestamp: str
    signature: str

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> SignedHeaders | None:
        """Present when a ``webhook-signature`` header was sent."""
        signature = headers.get("webhook-signature")
        if signature is None:
            return None
        return cls(header_text(headers.get("webhook-id", "")),
                   header_text(headers.get("webhook-timestamp", "")), header_text(signature))


def verify_signature(secret: str, signed: SignedHeaders, body: bytes, now_s: float,
                     tolerance_s: int) -> None:
    """Check a Standard Webhooks signature on the raw body; raise AuthError if wrong."""
    if not signed.webhook_id:
        raise AuthError("webhook-id header is missing")
    # The id keys de-duplication and is signed: printable ASCII as senders make them.
    if (len(signed.webhook_id) > _MAX_WEBHOOK_ID or not signed.webhook_id.isascii()
            or not signed.webhook_id.isprintable()):
        raise AuthError(f"webhook-id must be at most {_MAX_WEBHOOK_ID} printable ASCII "
                        "characters")
    if not _TIMESTAMP.fullmatch(signed.timestamp):
        raise AuthError("webhook-timestamp must be integer Unix seconds")
    timestamp = int(signed.timestamp)
    if abs(now_s - timestamp) > tolerance_s:
        raise AuthError(f"webhook-timestamp is more than {tolerance_s} s away from now")
    expected = sign(secret, signed.webhook_id, timestamp, body).encode()
    # Several signatures are allowed (key rotation): any match is enough.
    # A real signature is base64 (ASCII); anything else could not even be encoded.
    for candidate in signed.signature.split():
        if candidate.isascii() and hmac.compare_digest(candidate.encode(), expected):
            return
    raise AuthError("signature does not match")


def token_matches(strategy: Strategy, token: str, now: datetime | None = None) -> bool:
    """Constant-time comparison of a presented token with the strategy's secret (and,
    during a rotation's overlap, its previous one)."""
    secrets = strategy.accepted_secrets(now or datetime.now(UTC))
    matches = [hmac.compare_digest(s.encode(), token.encode()) for s in secrets]
    return any(matches)
