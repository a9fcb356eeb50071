"""Shared fixtures: a private nats-server per test, and the whole system.

Starting the eight services is the slow part of an end-to-end test (seconds of CPU),
so a module whose tests each provision their own tenants and leave the system as
they found it says ``pytest.mark.shared_system``: its tests then share one system
(and nats-server), each with its own bus connection and an event tap that starts at
the test's own moment on the stream. A test of such a module that restarts services,
changes their settings or needs a store of its own says ``pytest.mark.own_system``.
Whatever a test makes the services log is checked after it (a traceback fails it);
the whole logs and every secret are checked when the module's system stops.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import time
import traceback
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import service_forks
from harness import (
    TEST_MASTER_KEY,
    EventTap,
    System,
    connect_bus,
    new_postgres_schema,
    remember_secret,
    running_nats,
    running_system,
    start_system,
    stop_system,
)
from ports import free_port

from libs.registry.api_keys import ApiKey, ApiKeys
from libs.runtime.bus import Bus
from libs.runtime.embedded_nats import EmbeddedNats

os.environ.setdefault("TRADEHOOKS_MASTER_KEY", TEST_MASTER_KEY)


@pytest.fixture(autouse=True)
def _remember_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every admin API key a test makes is a secret the service logs may not show
    (see harness.CREATED_SECRETS)."""
    make = ApiKeys.create

    async def create(self: ApiKeys, *args: Any, **kwargs: Any) -> tuple[ApiKey, str]:
        record, plain = await make(self, *args, **kwargs)
        remember_secret(plain)
        return record, plain

    monkeypatch.setattr(ApiKeys, "create", create)


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` on a loop of its own (module fixtures outlive every test's loop;
    nothing bound to this loop is kept)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


@pytest.fixture(scope="module")
def module_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """The system the tests of a ``shared_system`` module share (SQLite store)."""
    root = tmp_path_factory.mktemp("shared")
    server = EmbeddedNats(root / "nats", port=free_port())

    async def start() -> System:
        await server.start()
        bus = await connect_bus(server.url)
        try:
            return await start_system(server, bus, root / "data", "")
        finally:
            await bus.close()

    async def stop(sut: System) -> None:
        bus = await connect_bus(server.url)
        try:  # the logs from the last test's check on (shutdown included)
            await stop_system(sut, bus, since=sut.checked_offsets)
        finally:
            await bus.close()

    try:
        sut = _run(start())
        yield sut
        _run(stop(sut))
    finally:
        server.stop()


@pytest.fixture
def shared_system(request: pytest.FixtureRequest) -> System | None:
    """The module's shared system when the test runs on it, else None."""
    if (request.node.get_closest_marker("shared_system") is None
            or request.node.get_closest_marker("own_system") is not None):
        return None
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("store_url", "sqlite") != "sqlite":
        return None  # the shared system's store is SQLite; this test needs another
    sut: System = request.getfixturevalue("module_system")
    return sut


@pytest.fixture
async def nats_server(tmp_path: Path, shared_system: System | None
                      ) -> AsyncIterator[EmbeddedNats]:
    """A nats-server with JetStream on a free port and a temporary store (the shared
    system's, for a test on it)."""
    if shared_system is not None:
        yield shared_system.nats
        return
    async with running_nats(tmp_path) as server:
        yield server


@pytest.fixture
async def bus(nats_server: EmbeddedNats) -> AsyncIterator[Bus]:
    """A connection to the private server with the stream and buckets created."""
    connection = await connect_bus(nats_server.url)
    yield connection
    await connection.close()


@pytest.fixture
async def tap(bus: Bus, shared_system: System | None) -> AsyncIterator[EventTap]:
    """Every event published on the stream, as the test runs (on a shared system:
    from the test's start on)."""
    event_tap = EventTap(bus, from_now=shared_system is not None)
    await event_tap.start()
    yield event_tap
    await event_tap.stop()
    event_tap.check()  # an unreadable event fails the test even if nothing looked


# make test runs the modules on several workers (pytest-xdist, --dist loadfile), in
# collection order: a long module that starts last would be the run's tail alone, so
# the long ones come first (each module stays whole: its shared system with it).
LONG_FIRST = ("tests/chaos/test_scale_partitions.py", "tests/unit/test_position_model.py",
              "tests/fuzz/test_openapi_schemathesis.py", "tests/chaos/", "tests/browser/",
              "tests/e2e/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long modules first (a stable sort: the order within each group stays)."""
    def rank(item: pytest.Item) -> int:
        return next((n for n, prefix in enumerate(LONG_FIRST)
                     if item.nodeid.startswith(prefix)), len(LONG_FIRST))

    items.sort(key=rank)


def _cpu_seconds() -> float:
    """CPU time of this process and of every child it has reaped (services, nats-server)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
            + service_forks.reaped_cpu())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """With TRADEHOOKS_TEST_CPU_LOG set, append each test's wall and CPU seconds (its
    services' included, fixtures' teardown too) as a JSON line: where make test's time
    goes, readable on a busy machine (``python -m tests.cpu_report FILE`` sums it)."""
    path = os.environ.get("TRADEHOOKS_TEST_CPU_LOG")
    if not path:
        return (yield)
    wall, cpu = time.monotonic(), _cpu_seconds()
    result = yield
    line = {"test": item.nodeid, "module": item.nodeid.split("::")[0],
            "wall": round(time.monotonic() - wall, 3), "cpu": round(_cpu_seconds() - cpu, 3),
            "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")}
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(line) + "\n")
    return result


def _plain_failure(item: pytest.Item, call: pytest.CallInfo[None],
                   error: SystemError) -> pytest.TestReport:
    """The failed phase's report with Python's own traceback, and why pytest's failed."""
    excinfo = call.excinfo
    text = "".join(traceback.format_exception(excinfo.value)) if excinfo else ""
    return pytest.TestReport(
        item.nodeid, item.location, dict.fromkeys(item.keywords, 1), "failed",
        f"{text}\n(pytest could not render this traceback: {error})", call.when,
        duration=call.duration, start=call.start, stop=call.stop)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember each phase's outcome so fixtures can print logs after a failure.

    A failure whose traceback pytest cannot render still reports as that test's
    failure, with a plain traceback: CPython 3.11.7 can raise ``SystemError: AST
    constructor recursion depth mismatch`` while pytest parses the source after a deep
    recursion (seen after schemathesis failed under load), which crashed the xdist
    worker and ended the whole run without naming the test.
    """
    try:
        report = yield
    except SystemError as error:
        report = _plain_failure(item, call, error)
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def store_url(request: pytest.FixtureRequest) -> str:
    """The event store URL: '' (SQLite under the data dir) or a fresh PostgreSQL schema.

    Tests choose PostgreSQL with
    ``@pytest.mark.parametrize("store_url", BACKENDS, indirect=True)``.
    """
    if getattr(request, "param", "sqlite") == "sqlite":
        return ""
    url, drop = new_postgres_schema()
    request.addfinalizer(drop)
    return url


@pytest.fixture
async def system(nats_server: EmbeddedNats, bus: Bus, tmp_path: Path,
                 store_url: str, request: pytest.FixtureRequest,
                 shared_system: System | None) -> AsyncIterator[System]:
    """All eight services running as processes, ready to take webhooks."""
    if shared_system is not None:
        async for sut in _on_shared(shared_system, request):
            yield sut
        return
    async with running_system(nats_server, bus, tmp_path / "data", store_url) as sut:
        yield sut
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            print(sut.logs())


async def _on_shared(sut: System, request: pytest.FixtureRequest) -> AsyncIterator[System]:
    """A test's turn on the shared system: what the services logged meanwhile is
    checked (and shown if the test failed), and the system is left as found."""
    # From where the last test's check ended: what the services logged between two
    # tests is this one's too.
    before, expected = dict(sut.checked_offsets), list(sut.expected_tracebacks)
    yield sut
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        print(sut.logs_since(before))
    sut.set_clock(None)
    stopped = [name for name, proc in sut.processes.items() if proc.poll() is not None]
    assert not stopped, f"a test on the shared system left {stopped} stopped"
    checked = sut.log_offsets()
    try:
        sut.assert_no_tracebacks(since=before)
    finally:
        sut.expected_tracebacks, sut.checked_offsets = expected, checked
