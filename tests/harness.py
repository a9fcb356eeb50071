"""Test harness: real nats-server, real service processes, an event tap.

Nothing here sleeps to synchronise: waits poll a condition until a deadline or
await events seen on the stream.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import psycopg
import pytest
import service_forks
from callback_receiver import callback_ca
from nats.js.api import ConsumerConfig, DeliverPolicy
from ports import free_port
from prometheus_client.parser import text_string_to_metric_families
from service_forks import ForkedService

from contracts import streams
from contracts.events import AnyEvent, decode_event, event_type
from contracts.orders import BrokerOrder
from contracts.subjects import DEAD_LETTER
from contracts.webhook_urls import LEGACY_ROUTE, webhook_url
from libs.brokers.market_prices import MarketPrices
from libs.brokers.paper import PaperAccount
from libs.registry.api_keys import ApiKeys
from libs.registry.kv_keys import matching_keys
from libs.registry.models import Account, Strategy, Tenant
from libs.registry.provisioning import register_account, register_strategy, register_tenant
from libs.registry.secrets import new_secret
from libs.registry.store import Registry
from libs.registry.vault import SecretBox
from libs.runtime.bus import Bus, connect, ensure_topology, is_bus_error
from libs.runtime.clock import SystemClock
from libs.runtime.config import load_settings
from libs.runtime.embedded_nats import EmbeddedNats
from projections.store import open_store
from services.ingress.app import serves_publicly

ROOT = Path(__file__).resolve().parent.parent
# Every process of a test run shares this master key (conftest puts it in the
# environment), so the test can read and write the registry the services use.
TRACEBACK = "Traceback (most recent call last):"
# Where each log record starts: its date (libs/runtime/logs.py's format).
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d ", re.MULTILINE)
# Dead letters share the stream with the events; they carry a payload, not an event.
DEAD_LETTER_PREFIX = DEAD_LETTER.removesuffix(">")
TEST_MASTER_KEY = "dHJhZGVob29rcy10ZXN0LW1hc3Rlci1rZXktb25seSE="  # 32 bytes, tests only


def master_box() -> SecretBox:
    """The SecretBox of :data:`TEST_MASTER_KEY`."""
    return SecretBox(TEST_MASTER_KEY.encode())


# Every secret the test process made or handed to the services: strategy secrets,
# API keys, JWT signing secrets, Alpaca keys, the master key. No service log may show
# one (System.assert_no_secrets, run when every system stops). Shorter values are
# left out: they would match ordinary words.
CREATED_SECRETS: set[str] = {TEST_MASTER_KEY}
MIN_SECRET_LENGTH = 8
# What a secret made by a service itself looks like (an unredacted one in a log).
SECRET_SHAPE = re.compile(r"\b(?:whsec|thk)_[A-Za-z0-9]")


def remember_secret(*values: str | None) -> None:
    """Record secrets the test made, for the log scan at the end of the test."""
    CREATED_SECRETS.update(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)


def record_secrets(record: Strategy | Account) -> list[str]:
    """The secrets a registry record holds (strategy secrets, broker keys)."""
    if isinstance(record, Strategy):
        return [record.secret, record.previous_secret]
    if record.exchange is not None:
        return [record.exchange.secret, record.exchange.password]
    return [record.alpaca.key_id, record.alpaca.secret_key] if record.alpaca else []


async def registry_secrets(bus: Bus) -> set[str]:
    """Every secret the registry holds now, made by the test or by a service (an API
    call, a rotation)."""
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    records: list[Strategy | Account] = [*await registry.strategies(),
                                         *await registry.accounts()]
    found = {s for r in records for s in record_secrets(r)}
    found |= {s for c in await registry.callbacks() for s in (c.secret, c.previous_secret)}
    return {s for s in found if len(s) >= MIN_SECRET_LENGTH}
# The event-store backends a test runs on: ``@pytest.mark.parametrize("store_url",
# BACKENDS, indirect=True)``. (Here, not in conftest.py: test folders have their own
# conftest modules, and the name would resolve to whichever was imported first.)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
POSTGRES_URL = os.environ.get("TRADEHOOKS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def wait_until(predicate: Callable[[], Any], timeout: float = 20.0,
                     interval: float = 0.05, message: str = "condition") -> Any:
    """Poll ``predicate`` (sync or async) until it returns a truthy value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


class EventTap:
    """Collects every event on the stream, in stream order, via an ordered consumer.

    Nothing is dropped: a message that is not a decodable event (dead letters aside)
    is kept in ``undecodable`` and fails the test at the next look at the events
    (:meth:`check`, called by every query and by the ``tap`` fixture at the end), so
    a negative check can never pass because the event it looks for was unreadable.
    A test that publishes garbage on purpose says so with :meth:`expect_undecodable`.

    ``from_now``: only what is published after :meth:`start` (a test on a system that
    earlier tests used sees its own time on the stream, not theirs).
    """

    def __init__(self, bus: Bus, *, from_now: bool = False) -> None:
        self.bus = bus
        self.from_now = from_now
        self.first_sequence = 1
        self.events: list[AnyEvent] = []
        self.raw: list[tuple[str, bytes]] = []
        self.dead_letters: list[tuple[str, bytes]] = []
        self.undecodable: list[tuple[str, bytes, str]] = []  # subject, data, error
        self._expected_garbage: set[bytes] = set()
        self._changed = asyncio.Condition()
        self._sub: Any = None

    async def start(self) -> None:
        if self.from_now:
            info = await self.bus.js.stream_info(streams.STREAM)
            self.first_sequence = info.state.last_seq + 1

        async def _on_msg(msg: Any) -> None:
            if msg.metadata.sequence.stream < self.first_sequence:
                return  # the ordered consumer restarted from the stream's start
            self.raw.append((msg.subject, msg.data))
            if msg.subject.startswith(DEAD_LETTER_PREFIX):
                self.dead_letters.append((msg.subject, msg.data))
            else:
                try:
                    self.events.append(decode_event(msg.data))
                except msgspec.DecodeError as exc:
                    self.undecodable.append((msg.subject, msg.data, str(exc)))
            async with self._changed:
                self._changed.notify_all()

        self._sub = await self.bus.js.subscribe(
            ">", stream=streams.STREAM, cb=_on_msg, ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                  opt_start_seq=self.first_sequence),
        )

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    def expect_undecodable(self, data: bytes) -> None:
        """``data`` is published on purpose as a message that is no event."""
        self._expected_garbage.add(data)

    def check(self) -> None:
        """Fail if a message on the stream was not a decodable event (unless expected)."""
        unexpected = [(subject, error) for subject, data, error in self.undecodable
                      if data not in self._expected_garbage]
        if unexpected:
            raise AssertionError(f"{len(unexpected)} message(s) on the stream are not "
                                 f"decodable events: {unexpected[:3]}")

    def of_type(self, type_: str, signal_id: str | None = None) -> list[AnyEvent]:
        self.check()
        return [e for e in self.events if event_type(e) == type_
                and (signal_id is None or e.signal_id == signal_id)]

    def terminal(self, signal_id: str) -> list[AnyEvent]:
        self.check()
        return [e for e in self.events if e.signal_id == signal_id
                and event_type(e) in ("webhook.trade_executed", "webhook.failed")]

    async def wait_for(self, predicate: Callable[[list[AnyEvent]], Any],
                       timeout: float = 20.0) -> Any:
        async def _wait() -> Any:
            async with self._changed:
                while True:
                    self.check()
                    if result := predicate(self.events):
                        return result
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            seen = [event_type(e) for e in self.events][-20:]
            raise AssertionError(f"events never matched; last seen: {seen}") from None

    async def wait_terminal(self, signal_id: str, timeout: float = 20.0) -> AnyEvent:
        found: list[AnyEvent] = await self.wait_for(lambda _: self.terminal(signal_id), timeout)
        return found[0]


def strategy_webhook_url(base_url: str, strategy: Strategy, *, token: bool = True,
                         legacy: bool = False) -> str:
    """The one way tests build a webhook URL: the strategy's URL as the API answers it
    (``/webhook/<tenant>/<slug>``, by the services' own helper) under ``base_url``
    (``""``: the path alone), with ``?token=<secret>`` unless ``token`` is False;
    ``legacy``: the old ``/webhook/<slug>`` alias instead."""
    url = (base_url + LEGACY_ROUTE.format(slug=strategy.slug) if legacy
           else webhook_url(base_url, strategy.tenant_id, strategy.slug))
    return f"{url}?token={strategy.secret}" if token else url


@dataclass
class Tenancy:
    """A tenant with one paper account and one strategy, as a test uses them."""

    tenant: Tenant
    account: Account
    strategy: Strategy


async def provision(bus: Bus, *, starting_cash: str = "100000",
                    account_fields: dict[str, Any] | None = None,
                    tenant_fields: dict[str, Any] | None = None,
                    **strategy_fields: Any) -> Tenancy:
    """Register a fresh tenant, account (paper unless ``account_fields`` say otherwise)
    and strategy, with unique ids. The strategy sizes at 2 % of equity unless
    ``sizing_mode`` says otherwise (new strategies default to ``auto``)."""
    strategy_fields.setdefault("sizing_mode", "percent_equity")
    suffix = uuid.uuid4().hex[:8]
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    clock = SystemClock()
    tenant = Tenant(id=f"t{suffix}", name=f"Tenant {suffix}", **(tenant_fields or {}))
    account = Account(id=f"acct-{suffix}", tenant_id=tenant.id, name="Paper",
                      starting_cash=starting_cash,  # type: ignore[arg-type]
                      **(account_fields or {}))
    await register_tenant(bus, registry, tenant, clock)
    remember_secret(*record_secrets(account))
    await register_account(bus, registry, account, clock)
    return Tenancy(tenant, account, await _new_strategy(bus, account, strategy_fields))


async def add_strategy(bus: Bus, tenancy: Tenancy, **strategy_fields: Any) -> Tenancy:
    """Register one more strategy on the tenancy's account (unique ids); the tenancy
    of the new strategy."""
    strategy = await _new_strategy(bus, tenancy.account, strategy_fields)
    return Tenancy(tenancy.tenant, tenancy.account, strategy)


async def add_account(bus: Bus, tenancy: Tenancy, **account_fields: Any) -> Tenancy:
    """Register another paper account of the tenancy's tenant, with a strategy."""
    account = Account(id=f"acct-{uuid.uuid4().hex[:8]}", tenant_id=tenancy.tenant.id,
                      name="Paper", **account_fields)
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    remember_secret(*record_secrets(account))
    await register_account(bus, registry, account, SystemClock())
    return Tenancy(tenancy.tenant, account, await _new_strategy(bus, account, {}))


async def _new_strategy(bus: Bus, account: Account, fields: dict[str, Any]) -> Strategy:
    suffix = uuid.uuid4().hex[:8]
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    strategy = Strategy(id=f"strat-{suffix}", tenant_id=account.tenant_id,
                        account_id=account.id, secret=new_secret(),
                        **{"name": f"Strategy {suffix}", "slug": f"strategy-{suffix}",
                           **fields})
    remember_secret(*record_secrets(strategy))
    await register_strategy(bus, registry, strategy, SystemClock())
    return strategy


SERVICES = ("auditor", "validator", "risk", "executor", "sl-tp-monitor", "dispatcher",
            "ingress", "api")
# The HTTP services log "… listening on"; the others "<service> running".
HTTP_SERVICES = ("ingress", "api")


@dataclass
class System:
    """The eight services as real processes against one nats-server and one store."""

    nats: EmbeddedNats
    data_dir: Path
    database_url: str
    http_port: int
    processes: dict[str, subprocess.Popen[bytes] | ForkedService] = field(default_factory=dict)
    admin_key: str = ""
    expected_tracebacks: list[tuple[str, str]] = field(default_factory=list)
    # A service (or instance) that reaches NATS through another URL, e.g. a proxy
    # that injects faults; kept across restarts.
    nats_urls: dict[str, str] = field(default_factory=dict)
    # The operator listener (admin and read API, metrics, OpenAPI); tests reach it
    # only through :attr:`operator_url`.
    operator_port: int = field(default_factory=free_port)
    # How far the logs were checked for tracebacks (a system tests share).
    checked_offsets: dict[str, int] = field(default_factory=dict)

    @property
    def admin_headers(self) -> dict[str, str]:
        """Headers of a global admin key, for the operator API."""
        return {"X-API-Key": self.admin_key}

    @property
    def api_url(self) -> str:
        """The public listener: the webhook routes and health, nothing else."""
        return f"http://127.0.0.1:{self.http_port}"

    def webhook_url(self, strategy: Strategy, *, token: bool = True,
                    legacy: bool = False) -> str:
        """:func:`strategy_webhook_url` on this system's public URL."""
        return strategy_webhook_url(self.api_url, strategy, token=token, legacy=legacy)

    @property
    def operator_url(self) -> str:
        """The operator listener: ``/api/v1/...``, ``/metrics``, ``/openapi.json``."""
        return f"http://127.0.0.1:{self.operator_port}"

    def base_for(self, path: str) -> str:
        """The base URL of the listener that serves ``path`` (public or operator)."""
        return self.api_url if serves_publicly(path) else self.operator_url

    @property
    def clock_file(self) -> Path:
        """Where the services' test clock is read from (absent: the wall clock)."""
        return self.data_dir / "clock"

    def set_clock(self, instant: datetime | None) -> None:
        """Freeze ingress's time at ``instant`` (None: back to the wall clock)."""
        if instant is None:
            self.clock_file.unlink(missing_ok=True)
        else:  # whole or not at all: a reader never sees a half-written file
            staged = self.clock_file.with_suffix(".new")
            staged.write_text(instant.isoformat())
            os.replace(staged, self.clock_file)

    @property
    def store_url(self) -> str:
        """The event store the services write (SQLite under the data dir by default)."""
        return self.database_url or f"sqlite:///{self.data_dir / 'events.sqlite'}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "NATS_URL": self.nats.url,
            "TRADEHOOKS_DATA_DIR": str(self.data_dir),
            "TRADEHOOKS_HTTP_PORT": str(self.http_port),
            "TRADEHOOKS_OPERATOR_PORT": str(self.operator_port),
            "TRADEHOOKS_LOG_LEVEL": "INFO",
            # Fast broker retries and order sync keep the tests short.
            "TRADEHOOKS_ALPACA_TIMEOUT_S": "1.0",
            "TRADEHOOKS_ALPACA_RETRY_BASE_S": "0.05",
            "TRADEHOOKS_EXCHANGE_TIMEOUT_S": "1.0",
            "TRADEHOOKS_EXCHANGE_RETRY_BASE_S": "0.05",
            "TRADEHOOKS_EXCHANGE_RATE_LIMIT": "false",
            "TRADEHOOKS_ORDER_SYNC_INTERVAL_S": "0.2",
            "TRADEHOOKS_BREAKER_INTERVAL_S": "0.2",
            # Callbacks: the local HTTPS receiver's CA is trusted and, as it listens on
            # 127.0.0.1, literal loopback URLs are allowed; retries are fast and short.
            "TRADEHOOKS_CALLBACK_ALLOW_LOOPBACK": "true",
            "TRADEHOOKS_CALLBACK_CA_FILE": str(callback_ca().ca_file),
            "TRADEHOOKS_CALLBACK_TIMEOUT_S": "1.0",
            "TRADEHOOKS_CALLBACK_RETRY_BASE_S": "0.2",
            "TRADEHOOKS_CALLBACK_RETRY_MAX_DELAY_S": "1.0",
            "TRADEHOOKS_CALLBACK_RETRY_FOR_S": "60",
            "TRADEHOOKS_CALLBACK_DISABLE_AFTER": "3",
            # The test process is their supervisor: if it dies, they stop too.
            "TRADEHOOKS_SUPERVISED": "1",
            # The wall clock until a test sets the time (see set_clock).
            "TRADEHOOKS_TEST_CLOCK_FILE": str(self.clock_file),
        })
        # As under `tradehooks up`: the operator service's /metrics shows every
        # process's counters (ingress's webhook and auth counters among them).
        metrics_dir = self.data_dir / "metrics"
        metrics_dir.mkdir(exist_ok=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        if self.database_url:
            env["TRADEHOOKS_DATABASE_URL"] = self.database_url
        else:
            env.pop("TRADEHOOKS_DATABASE_URL", None)
        return env

    def start(self, service: str, instance: str | None = None,
              **env_overrides: str) -> None:
        """Start ``service``; ``instance`` names a second copy (e.g. ``risk-2``)."""
        name = instance or service
        log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - kept open by child
        env = self.env()
        # Signing secrets and keys handed to a service (an admin JWT secret, say).
        remember_secret(*(value for var, value in env_overrides.items()
                          if "SECRET" in var or var.endswith("_KEY")))
        if name in self.nats_urls:
            env["NATS_URL"] = self.nats_urls[name]
        argv = [sys.executable, "-m", "cli.main", "run", service]
        if service_forks.enabled():  # the imports done once (tests/service_forks.py)
            log.close()  # opened all the same: the log exists once start returns
            self.processes[name] = service_forks.forks().start(
                argv, {**env, **env_overrides}, ROOT, self.data_dir / f"{name}.log")
            return
        self.processes[name] = subprocess.Popen(
            argv, env={**env, **env_overrides}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )

    def kill(self, service: str) -> None:
        """SIGKILL: no chance to finish anything."""
        proc = self.processes[service]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def terminate(self, service: str) -> int:
        proc = self.processes[service]
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=20)

    def stop_all(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log_offsets(self) -> dict[str, int]:
        """How many bytes each service's log holds now (see :meth:`tracebacks`)."""
        return {p.name: p.stat().st_size for p in sorted(self.data_dir.glob("*.log"))}

    def logs(self) -> str:
        """Every service's whole log (a restart appends to the same file)."""
        return "\n".join(f"--- {p}\n{p.read_text(errors='replace')}"
                         for p in sorted(self.data_dir.glob("*.log")))

    def logs_since(self, offsets: dict[str, int]) -> str:
        """What each service logged after ``offsets`` (see :meth:`log_offsets`)."""
        parts = []
        for path in sorted(self.data_dir.glob("*.log")):
            with path.open("rb") as log:
                log.seek(offsets.get(path.name, 0))
                parts.append(f"--- {path}\n{log.read().decode(errors='replace')}")
        return "\n".join(parts)

    def expect_traceback(self, record: str, error: str = "") -> None:
        """A test that causes an outage on purpose names the log record (a part of its
        message line), and the error if it likes, that it expects with a traceback;
        every other one still fails."""
        self.expected_tracebacks.append((record, error))

    def tracebacks(self, since: dict[str, int] | None = None) -> list[str]:
        """Each traceback any service logged (after the ``since`` offsets), whole logs
        read: an exception logged with its traceback is a bug, wherever it is (unless
        the test said it expects that record: :meth:`expect_traceback`)."""
        found = []
        for path in sorted(self.data_dir.glob("*.log")):
            with path.open("rb") as log:
                log.seek((since or {}).get(path.name, 0))
                text = log.read().decode(errors="replace")
            starts = [m.start() for m in RECORD_START.finditer(text)]
            for match in re.finditer(re.escape(TRACEBACK), text):
                # The record's line: the last log record before it (a chained
                # exception's second traceback follows a blank line, not the record).
                before = bisect.bisect_left(starts, match.start())
                start = starts[before - 1] if before else 0
                shown = text[start:match.end() + 1500]
                if any(record in text[start:match.start()] and error in shown
                       for record, error in self.expected_tracebacks):
                    continue
                found.append(f"{path.name}: {shown}")
        return found

    def secrets_in_logs(self, secrets: set[str]) -> list[str]:
        """Where a service log shows one of ``secrets`` or an unredacted secret of a
        known shape: ``<log>: line <n>: <what>`` (never the secret itself)."""
        found = []
        for path in sorted(self.data_dir.glob("*.log")):
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if SECRET_SHAPE.search(line):
                    found.append(f"{path.name}: line {n}: a whsec_/thk_ secret")
                elif any(secret in line for secret in secrets):
                    found.append(f"{path.name}: line {n}: a secret the test made")
        return found

    def assert_no_secrets(self, secrets: set[str]) -> None:
        """Fail if any service log holds a secret (the test's, or of a known shape)."""
        found = self.secrets_in_logs(secrets | CREATED_SECRETS)
        assert not found, f"{len(found)} secret(s) in the service logs:\n" + \
            "\n".join(found[:10])

    def assert_no_tracebacks(self, since: dict[str, int] | None = None) -> None:
        """Fail, showing them, if any service logged a traceback."""
        found = self.tracebacks(since)
        assert not found, f"{len(found)} traceback(s) in the service logs:\n" + \
            "\n".join(found[:5])

    def running(self, service: str) -> bool:
        """The service logged that it is running (consumers attached)."""
        log = self.data_dir / f"{service}.log"
        kind = service.rsplit("-", 1)[0] if service.rsplit("-", 1)[-1].isdigit() else service
        marker = b"listening on" if kind in HTTP_SERVICES else f"{kind} running".encode()
        return log.exists() and marker in log.read_bytes()

    async def wait_ready(self, timeout: float = 60.0) -> None:
        # Generous: on a machine busy with other work, starting seven Python processes
        # took over 30 s (a deadline on starting, not a behaviour under test).
        await wait_until(lambda: all(self.running(s) for s in self.processes), timeout,
                         interval=0.05, message="every service to be running")
        listeners = {"ingress": self.api_url, "api": self.operator_url}
        async with aiohttp.ClientSession() as session:
            for service, url in listeners.items():
                if service not in self.processes:
                    continue

                async def _ready(url: str = url) -> bool:
                    try:
                        async with session.get(f"{url}/readyz") as resp:
                            return resp.status == 200
                    except aiohttp.ClientError:
                        return False

                await wait_until(_ready, timeout, interval=0.1, message=f"{service} /readyz")


@contextlib.asynccontextmanager
async def running_system(nats: EmbeddedNats, bus: Bus, data_dir: Path, store_url: str,
                         nats_urls: dict[str, str] | None = None) -> AsyncIterator[System]:
    """The eight services as processes, ready, with a global admin key; stopped after.
    Their logs are printed when starting fails or the body raises; a traceback in
    them (whole logs, shutdown included) fails the test."""
    sut = await start_system(nats, bus, data_dir, store_url, nats_urls)
    try:
        yield sut
    except BaseException:
        print(sut.logs())
        # In a thread: fakes served by this event loop (Alpaca) must keep answering.
        await asyncio.to_thread(sut.stop_all)
        raise
    await stop_system(sut, bus)


async def start_system(nats: EmbeddedNats, bus: Bus, data_dir: Path, store_url: str,
                       nats_urls: dict[str, str] | None = None) -> System:
    """Start the eight services, wait until they are ready and make a global admin key;
    their logs are printed (and they are stopped) when starting fails."""
    data_dir.mkdir()
    sut = System(nats=nats, data_dir=data_dir, database_url=store_url,
                 http_port=free_port(), nats_urls=dict(nats_urls or {}))
    for service in SERVICES:
        sut.start(service)
    try:
        await sut.wait_ready()
        _, sut.admin_key = await ApiKeys(await bus.kv(streams.BUCKET_REGISTRY)).create("admin")
        remember_secret(sut.admin_key)
    except BaseException:
        print(sut.logs())
        await asyncio.to_thread(sut.stop_all)
        raise
    return sut


async def stop_system(sut: System, bus: Bus, since: dict[str, int] | None = None) -> None:
    """Stop every service, then fail on a traceback anywhere in their whole logs
    (after ``since``; shutdown included) or a secret in them (every one the tests
    made, and every one in the registry now)."""
    # In a thread: fakes served by this event loop (Alpaca) must keep answering
    # the services while they finish their work and stop.
    await asyncio.to_thread(sut.stop_all)
    sut.assert_no_tracebacks(since)
    sut.assert_no_secrets(await _registry_secrets_if_reachable(bus))


async def _registry_secrets_if_reachable(bus: Bus) -> set[str]:
    try:
        async with asyncio.timeout(10):
            return await registry_secrets(bus)
    except Exception as exc:  # NATS left down by the test: the recorded ones still count
        if not is_bus_error(exc):
            raise
        print(f"registry not readable for the secret scan ({exc!r}); recorded ones only")
        return set()


def metric_value(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a Prometheus exposition (whatever the label order),
    or None when no sample has exactly those labels."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def log_size(system: System, service: str) -> int:
    """Bytes in the service's log so far (a restart appends to the same file)."""
    path = system.data_dir / f"{service}.log"
    return path.stat().st_size if path.exists() else 0


async def wait_restarted(system: System, service: str, offset: int,
                         timeout: float = 30.0) -> None:
    """Until the service logs, after ``offset``, that it is running again: started
    anew, or (an HTTP service, whose listener stays up) serving on a fresh NATS
    connection."""
    kind = service.rsplit("-", 1)[0] if service.rsplit("-", 1)[-1].isdigit() else service
    markers = ((b"listening on", b"serving again") if kind in HTTP_SERVICES
               else (f"{kind} running".encode(),))
    path = system.data_dir / f"{service}.log"

    def running() -> bool:
        with path.open("rb") as log:
            log.seek(offset)
            logged = log.read()
        return any(marker in logged for marker in markers)

    await wait_until(running, timeout, interval=0.05, message=f"{service} to restart")


def new_postgres_schema() -> tuple[str, Callable[[], None]]:
    """A fresh schema in the test database, and a function that drops it."""
    schema = f"th_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[arg-type]

    def drop() -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[arg-type]

    return f"{POSTGRES_URL}?schema={schema}", drop


@contextlib.asynccontextmanager
async def running_nats(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats", port=free_port())
    await server.start()
    try:
        yield server
    finally:
        server.stop()


async def connect_bus(url: str) -> Bus:
    bus = await connect(url, name="tradehooks-test")
    # As the services will (TRADEHOOKS_PARTITIONS in the environment runs them
    # partitioned): a different stream config here would undo theirs.
    await ensure_topology(bus, partitions=load_settings().partitions)
    return bus


async def run_replay(system: System) -> str:
    """Run ``tradehooks replay`` against the system's store; its output (exit 0)."""
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "cli.main", "replay"],
        env=system.env(), cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def stored_event_ids(system: System) -> list[str]:
    """Every pipeline event id in the system's event store, in store order."""
    store = open_store(system.store_url)
    try:
        return [event.event_id for _, event in store.iter_events()]
    finally:
        store.close()


async def account_projection(system: System, account_id: str, fills: int,
                             timeout: float = 20.0) -> dict[str, Any]:
    """``GET /api/v1/accounts/{id}`` once the projection has applied exactly ``fills``
    fills (the answer, as JSON)."""
    async with aiohttp.ClientSession() as http:
        async def applied() -> dict[str, Any] | None:
            async with http.get(f"{system.operator_url}/api/v1/accounts/{account_id}",
                                headers=system.admin_headers) as resp:
                body: dict[str, Any] = await resp.json()
                return body if resp.status == 200 and body["fills"] == fills else None

        found: dict[str, Any] = await wait_until(
            applied, timeout, message=f"{fills} fill(s) in the projection of {account_id}")
        return found


async def account_status(system: System, account_id: str) -> dict[str, Any]:
    """``GET /api/v1/status`` of one account: positions, open orders, cash, equity (read
    from the broker, unlike the projection)."""
    async with aiohttp.ClientSession() as http, http.get(
            f"{system.operator_url}/api/v1/status", headers=system.admin_headers,
            params={"account_id": account_id}) as resp:
        assert resp.status == 200, await resp.text()
        found: dict[str, Any] = (await resp.json())["accounts"][0]
        return found


async def tick(system: System, bus: Bus, symbol: str, *prices: str) -> None:
    """Post market prices one after the other and wait until the executor handled them
    all: a last marker price, handled after them in order, shows up in the market
    prices."""
    marker = str(Decimal(prices[-1]) + Decimal("0.0001"))
    async with aiohttp.ClientSession() as http:
        for price in (*prices, marker):
            async with http.post(f"{system.operator_url}/api/v1/prices",
                                 headers=system.admin_headers,
                                 json={"symbol": symbol, "price": price}) as resp:
                assert resp.status == 202, await resp.text()
    market = MarketPrices(await bus.kv(streams.BUCKET_PRICES))

    async def seen() -> bool:
        return await market.get(symbol) == Decimal(marker)

    await wait_until(seen, message=f"{symbol} at {marker}")


def book_of(orders: dict[str, BrokerOrder]) -> dict[str, tuple[str, str, str]]:
    """Orders as ``client order id → (side, quantity, status)``, quantities plain."""
    return {c: (o.side, f"{o.quantity.normalize():f}", o.status) for c, o in orders.items()}


async def paper_positions(bus: Bus, account_id: str) -> dict[str, Decimal]:
    """The positions the paper broker holds for an account, symbol → signed quantity."""
    kv = await bus.kv(streams.BUCKET_PAPER)
    state = msgspec.json.decode((await kv.get(account_id)).value or b"", type=PaperAccount)
    return {s: p.quantity for s, p in state.book.positions.items() if p.quantity != 0}


async def paper_orders(bus: Bus, account_id: str) -> dict[str, BrokerOrder]:
    """Every order the paper broker holds for an account, client order id → BrokerOrder:
    the account entry's and the older closed ones moved to keys of their own."""
    kv = await bus.kv(streams.BUCKET_PAPER)
    state = msgspec.json.decode((await kv.get(account_id)).value or b"", type=PaperAccount)
    orders: dict[str, BrokerOrder] = dict(state.orders)
    for key in await matching_keys(kv, f"{account_id}.order.*"):
        order = msgspec.json.decode((await kv.get(key)).value or b"", type=BrokerOrder)
        orders.setdefault(order.client_order_id, order)
    return orders


async def plant_order(bus: Bus, account_id: str, order: BrokerOrder) -> None:
    """Put ``order`` into a paper account's state as it is, bypassing the broker (a
    leg an older version or a crash could have left, which the broker refuses to
    place today)."""
    kv = await bus.kv(streams.BUCKET_PAPER)
    entry = await kv.get(account_id)
    state = msgspec.json.decode(entry.value or b"", type=PaperAccount)
    state.orders[order.client_order_id] = order
    encoder = msgspec.json.Encoder(decimal_format="string")
    await kv.update(account_id, encoder.encode(state), last=entry.revision)
