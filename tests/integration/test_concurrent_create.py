"""Several processes opening a fresh PostgreSQL store at once all succeed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from harness import new_postgres_schema

from projections.persistence import created_concurrently, parse_store_url
from projections.readmodel import open_read_model
from projections.signal_store import open_signal_store
from projections.store import open_store

pytestmark = pytest.mark.postgres


def test_six_openers_of_one_fresh_store_all_get_it() -> None:
    url, drop = new_postgres_schema()
    try:
        location = parse_store_url(url)
        openers = [lambda: open_store(url), lambda: open_read_model(location),
                   lambda: open_signal_store(location)] * 2
        with ThreadPoolExecutor(len(openers)) as pool:
            opened = list(pool.map(lambda opener: opener(), openers))
        assert len(opened) == 6
        for store in opened:
            store.close()
    finally:
        drop()


def test_other_errors_are_not_retried() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("password authentication failed")

    with pytest.raises(ValueError):
        created_concurrently(broken)
    assert calls == [1]
