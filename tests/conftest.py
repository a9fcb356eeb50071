"""Shared fixtures: a private nats-server per test, and the whole system."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from harness import (
    TEST_MASTER_KEY,
    EventTap,
    System,
    connect_bus,
    new_postgres_schema,
    remember_secret,
    running_nats,
    running_system,
)

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


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    """A nats-server with JetStream on a free port and a temporary store."""
    async with running_nats(tmp_path) as server:
        yield server


@pytest.fixture
async def bus(nats_server: EmbeddedNats) -> AsyncIterator[Bus]:
    """A connection to the private server with the stream and buckets created."""
    connection = await connect_bus(nats_server.url)
    yield connection
    await connection.close()


@pytest.fixture
async def tap(bus: Bus) -> AsyncIterator[EventTap]:
    """Every event published on the stream, as the test runs."""
    event_tap = EventTap(bus)
    await event_tap.start()
    yield event_tap
    await event_tap.stop()
    event_tap.check()  # an unreadable event fails the test even if nothing looked


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember each phase's outcome so fixtures can print logs after a failure."""
    report = yield
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
                 store_url: str, request: pytest.FixtureRequest) -> AsyncIterator[System]:
    """All seven services running as processes, ready to take webhooks."""
    async with running_system(nats_server, bus, tmp_path / "data", store_url) as sut:
        yield sut
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            print(sut.logs())
