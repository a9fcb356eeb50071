"""Signed alerts for the benchmarks, built before the clock starts.

Every alert is an exchange-style order of one contract, Standard-Webhooks signed with
its strategy's secret (HMAC over id, timestamp and body; valid for the 5-minute
tolerance). An account's alerts alternate buy and sell so it trades all day without
running out of buying power or piling up a position.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import orjson

from services.ingress.auth.signatures import sign


@dataclass(frozen=True)
class Target:
    """A strategy the benchmark posts to: its webhook URL and signing secret."""

    url: str
    secret: str
    tenant_id: str = ""
    account_id: str = ""


@dataclass(frozen=True)
class Alert:
    """One prepared request: URL, body and headers."""

    url: str
    body: bytes
    headers: dict[str, str]


def signed_alert(target: Target, n: int, timestamp: int | None = None) -> Alert:
    """The ``n``-th alert to ``target``: buy when ``n`` is even, sell when odd."""
    body = orjson.dumps({"alertId": f"b-{uuid.uuid4().hex}",
                         "action": "buy" if n % 2 == 0 else "sell",
                         "symbol": "AAPL", "price": "100", "quantity": "1"})
    ts = int(time.time()) if timestamp is None else timestamp
    msg_id = f"msg_{uuid.uuid4().hex}"
    return Alert(target.url, body, {
        "Content-Type": "application/json", "webhook-id": msg_id,
        "webhook-timestamp": str(ts), "webhook-signature": sign(target.secret, msg_id, ts, body)})


def round_robin(targets: list[Target], count: int, first: int = 0,
                rate: float | None = None) -> list[Alert]:
    """``count`` alerts spread over ``targets`` in turn (alert ``first`` onwards).
    With ``rate``, each is signed for the second it is due to be sent at that rate
    (a long run's last alerts would otherwise be older than the signature tolerance
    by the time a slow server reads them); else all for now."""
    now = time.time()
    return [signed_alert(targets[n % len(targets)], n // len(targets),
                         int(now + (n - first) / rate) if rate else int(now))
            for n in range(first, first + count)]
