"""Fixtures shared by the integration tests of the store and its read models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from projections.store import EventStore, open_store


@pytest.fixture
def url(store_url: str, tmp_path: Path) -> str:
    """The test's store URL: its PostgreSQL schema, else a SQLite file of its own."""
    return store_url or f"sqlite:///{tmp_path / 'events.sqlite'}"


@pytest.fixture
def store(url: str) -> Iterator[EventStore]:
    """The event store at :func:`url`, closed afterwards."""
    es = open_store(url)
    yield es
    es.close()
