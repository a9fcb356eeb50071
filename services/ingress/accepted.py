"""Which alerts were accepted lately, so that a retry is answered ``200 duplicate``
before any rate limit is counted.

JetStream drops a repeated ``webhook.received`` by its message id, but only when it
is published, and a request over a rate limit is refused before that. So the alerts
of strategies under a rate limit (tenant, account or strategy) are also remembered
here, alert key → signal id, in a KV bucket that forgets them after the
de-duplication window. Alerts without any limit need no record: nothing refuses
their retries before the publish.
"""

from __future__ import annotations

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue


def _kv_key(alert_key: str) -> str:
    # Alert keys are "a.<sha256>" or "dry-run:a.<sha256>": ':' is no KV key character.
    return alert_key.replace(":", ".")


class AcceptedAlerts:
    """Alert key → the signal id it was accepted as, for the de-duplication window."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def signal_of(self, alert_key: str) -> str | None:
        """The signal id of an alert accepted earlier in the window, or None."""
        try:
            entry = await self.kv.get(_kv_key(alert_key))
        except KeyNotFoundError:
            return None
        return (entry.value or b"").decode() or None

    async def remember(self, alert_key: str, signal_id: str) -> None:
        """Record that the alert was accepted as ``signal_id`` (idempotent)."""
        await self.kv.put(_kv_key(alert_key), signal_id.encode())
