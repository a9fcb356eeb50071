"""Turn ``TRADEHOOKS_DATABASE_URL`` / the SQLite default into eventsourcing settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlparse

import tenacity

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class StoreLocation:
    """Where the event store and the read models live."""

    kind: str  # "sqlite" or "postgres"
    sqlite_path: str = ""
    host: str = ""
    port: int = 5432
    dbname: str = ""
    user: str = ""
    password: str = field(default="", repr=False)
    schema: str = ""

    def describe(self) -> str:
        """Human-readable location without the password."""
        if self.kind == "sqlite":
            return f"sqlite:{self.sqlite_path}"
        schema = f" schema={self.schema}" if self.schema else ""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}{schema}"


def postgres_connector(location: StoreLocation) -> Callable[[], psycopg.Connection[Any]]:
    """A function opening an autocommit connection to the location's PostgreSQL
    database (the read models', the signals' and the timelines' connections)."""
    # Imported here: a process on SQLite (every test system, `tradehooks up`) never
    # loads psycopg, about 0.1 s of CPU per start.
    import psycopg

    conninfo = psycopg.conninfo.make_conninfo(
        host=location.host, port=location.port, dbname=location.dbname,
        user=location.user, password=location.password or None, connect_timeout=5)
    return lambda: psycopg.connect(conninfo, autocommit=True)


def parse_store_url(url: str) -> StoreLocation:
    """Parse ``sqlite:///path`` or ``postgresql://user:pw@host:port/db?schema=s``."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else parsed.path
        return StoreLocation(kind="sqlite", sqlite_path=path)
    if parsed.scheme in ("postgres", "postgresql"):
        query = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part)
        return StoreLocation(
            kind="postgres",
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            dbname=parsed.path.lstrip("/") or "postgres",
            user=unquote(parsed.username or "postgres"),
            password=unquote(parsed.password or ""),
            schema=query.get("schema", ""),
        )
    raise ValueError(f"unsupported store URL scheme {parsed.scheme!r} (sqlite or postgresql)")


def eventsourcing_env(location: StoreLocation) -> dict[str, str]:
    """Environment for an eventsourcing Application stored at ``location``."""
    if location.kind == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "APPLICATION_RECORDER_TOPIC": "projections.chain:ChainedSQLiteRecorder",
            "SQLITE_DBNAME": location.sqlite_path,
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        # Every insert extends the tamper-evidence chain (projections.chain).
        "APPLICATION_RECORDER_TOPIC": "projections.chain_postgres:ChainedPostgresRecorder",
        "POSTGRES_DBNAME": location.dbname,
        "POSTGRES_HOST": location.host,
        "POSTGRES_PORT": str(location.port),
        "POSTGRES_USER": location.user,
        "POSTGRES_PASSWORD": location.password,
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_PRE_PING": "y",
    }
    if location.schema:
        env["POSTGRES_SCHEMA"] = location.schema
    return env


T = TypeVar("T")


def created_concurrently(opener: Callable[[], T], attempts: int = 8) -> T:
    """Open a store whose tables another process may be creating at the same moment.

    PostgreSQL refuses one of two concurrent ``CREATE ... IF NOT EXISTS`` ("tuple
    concurrently updated", a duplicate ``pg_type`` row): at scale several auditors and
    operator services start together. The loser tries again, and finds the tables.
    """
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_concurrent_ddl), reraise=True,
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_random_exponential(multiplier=0.05, max=1.0))
    return retrying(opener)


def _concurrent_ddl(exc: BaseException) -> bool:
    text = f"{exc} {exc.__cause__ or ''}"
    return "concurrently updated" in text or "pg_type_typname_nsp_index" in text or \
        "already exists" in text
