"""The load of a fault test: signed alerts at a steady rate, retried like a sender would.

Each alert is a TradingView strategy alert signed with Standard Webhooks headers
(its ``webhook-id`` is the idempotency key). The sender posts it at its scheduled
moment and, like TradingView after a 5xx (or a bot after a dropped connection),
sends the *same body with the same webhook-id* again until it gets a 2xx. Every
attempt is recorded, so the invariants can check what each answer was and how
long it took.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from e2e.helpers import signed_headers, tv_alert
from harness import Tenancy, provision

from services.runtime.bus import Bus

# A sender gives up waiting for one answer after this long (TradingView: 3 s). The
# client waits longer than that so that a hang is measured, not cut short.
CLIENT_TIMEOUT_S = 6.0
# Longest pause between two tries of one alert; Retry-After is honoured up to it.
MAX_RETRY_PAUSE_S = 1.0


@dataclass
class Attempt:
    """One HTTP try of an alert."""

    elapsed_s: float
    status: int | None  # None: no HTTP answer (connection refused or dropped, timeout)
    retry_after: str | None = None
    signal_id: str | None = None
    error: str = ""


@dataclass
class Alert:
    """One alert of the load and everything that happened when it was sent."""

    index: int
    tenancy: Tenancy
    webhook_id: str
    body: bytes
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def answers_2xx(self) -> list[Attempt]:
        return [a for a in self.attempts if a.status is not None and 200 <= a.status < 300]

    @property
    def signal_id(self) -> str | None:
        """The signal id of the first 2xx answer (None if never accepted)."""
        answered = self.answers_2xx
        return answered[0].signal_id if answered else None

    @property
    def url_path(self) -> str:
        return f"/webhook/{self.tenancy.strategy.slug}"


async def provision_many(bus: Bus, count: int, **fields: Any) -> list[Tenancy]:
    """``count`` tenants, each with one account and one strategy sized by the alert."""
    return [await provision(bus, sizing_mode="alert_contracts", **fields)
            for _ in range(count)]


def make_alerts(tenancies: list[Tenancy], count: int, rng: random.Random,
                symbols: dict[str, str] | None = None) -> list[Alert]:
    """``count`` alerts spread over ``tenancies``: mostly entries, some exits.

    ``symbols`` maps a strategy id to the symbol it trades (default AAPL). Exits
    close the whole position (or fail with no_position): either way a terminal.
    """
    alerts: list[Alert] = []
    run = rng.randrange(1 << 30)
    for index in range(count):
        tenancy = tenancies[index % len(tenancies)]
        symbol = (symbols or {}).get(tenancy.strategy.id, "AAPL")
        action = "sell" if rng.random() < 0.15 else "buy"
        body = tv_alert(symbol=symbol, action=action, contracts=str(rng.randint(1, 3)),
                        price=f"{rng.uniform(95, 105):.2f}", comment=f"chaos {index}")
        alerts.append(Alert(index=index, tenancy=tenancy,
                            webhook_id=f"chaos-{run}-{index}",
                            body=json.dumps(body).encode()))
    return alerts


async def post_once(session: aiohttp.ClientSession, api_url: str, alert: Alert) -> Attempt:
    """One try: signed afresh (new timestamp), same body and webhook-id."""
    headers = signed_headers(alert.tenancy.strategy.secret, alert.body, alert.webhook_id)
    started = time.monotonic()
    try:
        async with session.post(api_url + alert.url_path, data=alert.body,
                                headers=headers) as resp:
            data: dict[str, Any] = await resp.json(content_type=None)
            attempt = Attempt(elapsed_s=time.monotonic() - started, status=resp.status,
                              retry_after=resp.headers.get("Retry-After"),
                              signal_id=data.get("signal_id"),
                              error=str(data.get("error", "")))
    except (aiohttp.ClientError, TimeoutError) as exc:
        attempt = Attempt(elapsed_s=time.monotonic() - started, status=None,
                          error=type(exc).__name__)
    alert.attempts.append(attempt)
    return attempt


async def send_until_accepted(session: aiohttp.ClientSession, api_url: str, alert: Alert,
                              give_up_at: float) -> None:
    """Post ``alert`` until a 2xx, a refusal other than 503, or ``give_up_at``."""
    while True:
        attempt = await post_once(session, api_url, alert)
        if attempt.status is not None and attempt.status != 503:
            return  # 2xx: done; any other answer is checked by the invariants
        if time.monotonic() >= give_up_at:
            return
        pause = MAX_RETRY_PAUSE_S
        if attempt.retry_after and attempt.retry_after.isdigit():
            pause = min(float(attempt.retry_after), MAX_RETRY_PAUSE_S)
        await asyncio.sleep(pause)  # the sender's retry delay, not synchronisation


async def run_load(api_url: str, alerts: list[Alert], rate_per_s: float,
                   give_up_after_s: float = 45.0) -> float:
    """Send every alert at its slot of a steady ``rate_per_s``; returns the seconds taken.

    Alerts do not wait for each other (an open loop, like independent senders).
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async def one(alert: Alert) -> None:
            await asyncio.sleep(max(0.0, started + alert.index / rate_per_s - loop.time()))
            await send_until_accepted(session, api_url, alert,
                                      time.monotonic() + give_up_after_s)

        await asyncio.gather(*(one(alert) for alert in alerts))
    return loop.time() - started


async def resend(api_url: str, alerts: list[Alert]) -> list[Attempt]:
    """Send already accepted alerts once more, as a sender that missed the answer would."""
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return list(await asyncio.gather(*(post_once(session, api_url, a) for a in alerts)))
