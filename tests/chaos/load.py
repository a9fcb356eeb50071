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
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
from e2e.helpers import signed_headers, tv_alert
from harness import System, Tenancy, paper_positions, provision, strategy_webhook_url

from libs.registry.models import BreakerConfig
from libs.runtime.bus import Bus

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
    def is_exit(self) -> bool:
        """A TradingView long exit (``sell`` of the ``long`` order): closes the position."""
        return bool(json.loads(self.body)["strategy_order_action"] == "sell")

    @property
    def url_path(self) -> str:
        return strategy_webhook_url("", self.tenancy.strategy, token=False)


async def provision_many(bus: Bus, count: int, **fields: Any) -> list[Tenancy]:
    """``count`` tenants, each with one account and one strategy sized by the alert."""
    return [await provision(bus, sizing_mode="alert_contracts", **fields)
            for _ in range(count)]


# The strategies of a mixed load: plain entries and exits, protective legs (the
# price feed crosses them), legs with a trailing stop, and an account whose breaker
# trips when its symbol crashes.
LEGS = {"attach_sl_tp": True, "sl_pct": "2", "tp_pct": "3"}
TRAILING = {"attach_sl_tp": True, "sl_pct": "2", "tp_pct": "4", "trailing_stop_pct": "2"}
BREAKER = BreakerConfig(base_equity=Decimal(100_000), global_sl_pct=Decimal("99.5"))


@dataclass
class Mixed:
    """The tenancies of a mixed load and the symbol each one trades."""

    plain: Tenancy
    legs: Tenancy
    trailing: Tenancy
    breaker: Tenancy | None = None

    @property
    def all(self) -> list[Tenancy]:
        return [self.plain, self.legs, self.trailing, *([self.breaker] if self.breaker else [])]

    @property
    def symbols(self) -> dict[str, str]:
        """Strategy id → the symbol it trades (one per account)."""
        return {t.strategy.id: f"MIX{n}" for n, t in enumerate(self.all)}

    def symbol_of(self, tenancy: Tenancy) -> str:
        return self.symbols[tenancy.strategy.id]


async def provision_mixed(bus: Bus, breaker: bool = False) -> Mixed:
    """One account of each kind of :class:`Mixed` (the breaker's only when asked),
    sized by the alert."""
    return Mixed(
        plain=await provision(bus, sizing_mode="alert_contracts"),
        legs=await provision(bus, sizing_mode="alert_contracts", **LEGS),
        trailing=await provision(bus, sizing_mode="alert_contracts", **TRAILING),
        breaker=await provision(bus, sizing_mode="alert_contracts",
                                account_fields={"breaker": BREAKER}) if breaker else None,
    )


@dataclass
class Crash:
    """A symbol that falls to ``price`` once ``ready`` says so (checked from
    ``after_s`` on): a breaker's stop-loss, at a moment the account holds enough."""

    symbol: str
    price: str
    after_s: float
    ready: Callable[[], Awaitable[bool]]
    at_s: float | None = None


async def feed_prices(api_url: str, admin_key: str, symbols: Sequence[str],
                      rng: random.Random, stop: asyncio.Event, crash: Crash | None = None,
                      every_s: float = 0.25) -> int:
    """Post market prices for ``symbols`` every ``every_s`` until ``stop``: a seeded
    walk between 94 and 106, so legs placed 2-4 % from fills near 100 are crossed and
    trailing stops move. Returns how many price posts were accepted (the rest met the
    fault; a lost tick is a lost tick)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    prices = {symbol: 100.0 for symbol in symbols}
    accepted = 0
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while not stop.is_set():
            for symbol in prices:
                prices[symbol] = min(106.0, max(94.0, prices[symbol] + rng.uniform(-1.5, 1.5)))
            body = [{"symbol": s, "price": f"{p:.2f}"} for s, p in prices.items()]
            if crash is not None and crash.at_s is None and \
                    loop.time() - started >= crash.after_s and await crash.ready():
                crash.at_s = loop.time() - started
            if crash is not None and crash.at_s is not None:
                body = [b for b in body if b["symbol"] != crash.symbol] + [
                    {"symbol": crash.symbol, "price": crash.price}]
            try:
                async with session.post(f"{api_url}/api/v1/prices", json={"prices": body},
                                        headers={"X-API-Key": admin_key}) as resp:
                    accepted += resp.status == 202
            except (aiohttp.ClientError, TimeoutError):
                pass  # the fault (ingress or NATS away): this tick is lost
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)  # the feed's own rhythm
    return accepted


def make_alerts(tenancies: list[Tenancy], count: int, rng: random.Random,
                symbols: dict[str, str] | None = None) -> list[Alert]:
    """``count`` alerts spread over ``tenancies``: mostly entries, some exits.

    ``symbols`` maps a strategy id to the symbol it trades (default AAPL). Exits
    close their contracts (at most the position; no_position when flat): either way
    a terminal.
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


def holding(bus: Bus, tenancy: Tenancy, symbol: str,
            at_least: int) -> Callable[[], Awaitable[bool]]:
    """A :class:`Crash` condition: the account holds at least ``at_least`` of ``symbol``."""
    async def ready() -> bool:
        try:
            held = (await paper_positions(bus, tenancy.account.id)).get(symbol, Decimal(0))
        except Exception:  # NATS away in a fault: not now
            return False
        return held >= at_least

    return ready


class MovingPrices:
    """The price feed of a mixed load, for the length of an ``async with``: every
    symbol walks, and the breaker account's symbol (if there is one) crashes to 1 once
    the account holds six or more (from 5 s on), which its stop-loss cannot survive."""

    def __init__(self, system: System, bus: Bus, mixed: Mixed, rng: random.Random) -> None:
        self.crash: Crash | None = None
        if mixed.breaker is not None:
            symbol = mixed.symbol_of(mixed.breaker)
            self.crash = Crash(symbol, "1", after_s=5.0,
                               ready=holding(bus, mixed.breaker, symbol, 6))
        self.ticks = 0
        self._args = (system.operator_url, system.admin_key, list(mixed.symbols.values()),
                      random.Random(rng.randrange(1 << 30)))
        self._stop = asyncio.Event()
        self._task: asyncio.Task[int] | None = None

    async def __aenter__(self) -> MovingPrices:
        self._task = asyncio.create_task(feed_prices(*self._args, self._stop, self.crash))
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        assert self._task is not None
        self.ticks = await self._task

    def __str__(self) -> str:
        if self.crash is None:
            return f"{self.ticks} price posts"
        at = "never" if self.crash.at_s is None else f"at {self.crash.at_s:.1f} s"
        return f"{self.ticks} price posts, {self.crash.symbol} crashed {at}"
