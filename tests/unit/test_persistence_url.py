"""Event store URLs and the eventsourcing environment they become."""

from __future__ import annotations

import pytest

from projections.persistence import StoreLocation, eventsourcing_env, parse_store_url


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///var/events.sqlite", "var/events.sqlite"),
        ("sqlite:////tmp/th/events.sqlite", "/tmp/th/events.sqlite"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    location = parse_store_url(url)

    assert location == StoreLocation(kind="sqlite", sqlite_path=path)
    assert location.describe() == f"sqlite:{path}"


def test_sqlite_env() -> None:
    env = eventsourcing_env(parse_store_url("sqlite:///var/events.sqlite"))

    assert env == {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "APPLICATION_RECORDER_TOPIC": "projections.chain:ChainedSQLiteRecorder",
        "SQLITE_DBNAME": "var/events.sqlite",
        "SQLITE_LOCK_TIMEOUT": "10",
    }


def test_postgresql_url_with_everything() -> None:
    location = parse_store_url(
        "postgresql://trader:s3cr%40t%2Fpw@db.internal:6543/tradehooks?schema=tenant_a&sslmode=x"
    )

    assert location == StoreLocation(
        kind="postgres", host="db.internal", port=6543, dbname="tradehooks", user="trader",
        password="s3cr@t/pw", schema="tenant_a",
    )


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgres_defaults(scheme: str) -> None:
    location = parse_store_url(f"{scheme}://")

    assert location == StoreLocation(kind="postgres", host="127.0.0.1", port=5432,
                                     dbname="postgres", user="postgres", password="")


def test_describe_never_shows_the_password() -> None:
    with_schema = parse_store_url("postgresql://u:hunter2@h:5433/d?schema=s")
    without = parse_store_url("postgresql://u:hunter2@h/d")

    assert with_schema.describe() == "postgresql://u@h:5433/d schema=s"
    assert without.describe() == "postgresql://u@h:5432/d"
    assert "hunter2" not in with_schema.describe() + without.describe()


def test_postgres_env_with_schema() -> None:
    env = eventsourcing_env(parse_store_url("postgresql://u:pw@h:5433/d?schema=s"))

    assert env == {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": "projections.chain_postgres:ChainedPostgresRecorder",
        "POSTGRES_DBNAME": "d",
        "POSTGRES_HOST": "h",
        "POSTGRES_PORT": "5433",
        "POSTGRES_USER": "u",
        "POSTGRES_PASSWORD": "pw",
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_SCHEMA": "s",
    }


def test_postgres_env_without_schema_has_no_schema_key() -> None:
    env = eventsourcing_env(parse_store_url("postgresql://u@h/d"))

    assert "POSTGRES_SCHEMA" not in env
    assert env["POSTGRES_PASSWORD"] == ""


@pytest.mark.parametrize("url", ["mysql://u@h/d", "var/events.sqlite", "http://x"])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported store URL scheme"):
        parse_store_url(url)
