"""A PostgreSQL event store this test alone can take away, without touching the server.

Restarting the machine's PostgreSQL would break every other test using it at the
same time, so the outage is targeted: the store belongs to a login role made for
this test. Taking the store away = ``ALTER ROLE ... NOLOGIN`` (new connections are
refused, as while a server restarts) plus ``pg_terminate_backend`` of every
session of that role, repeated for the whole outage (open connections die, as in
a restart, and one that slipped in meanwhile dies too). Bringing it back =
``LOGIN``. To the services this looks like a restart of their database; other
roles and schemas never notice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from urllib.parse import urlparse, urlunparse

import psycopg
from harness import POSTGRES_URL


def own_store() -> tuple[str, str, Callable[[], None]]:
    """A fresh role and schema; returns the store URL, the role and a cleanup."""
    role = f"th_chaos_{uuid.uuid4().hex[:10]}"
    parts = urlparse(POSTGRES_URL)
    database = parts.path.lstrip("/")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')  # type: ignore[arg-type]
        conn.execute(f'CREATE SCHEMA "{role}" AUTHORIZATION "{role}"')  # type: ignore[arg-type]
        # The read model says CREATE SCHEMA IF NOT EXISTS, which needs this even
        # when the schema exists.
        conn.execute(f'GRANT CREATE ON DATABASE "{database}" TO "{role}"')  # type: ignore[arg-type]
    netloc = f"{role}@{parts.hostname}:{parts.port or 5432}"
    url = urlunparse(parts._replace(netloc=netloc)) + f"?schema={role}"

    def drop() -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'ALTER ROLE "{role}" NOLOGIN')  # type: ignore[arg-type]
            _terminate(conn, role)
            # Drops the schema and its tables, and revokes the database grant.
            conn.execute(f'DROP OWNED BY "{role}" CASCADE')  # type: ignore[arg-type]
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')  # type: ignore[arg-type]

    return url, role, drop


def _terminate(conn: psycopg.Connection[tuple[object, ...]], role: str) -> int:
    rows = conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
        (role,)).fetchall()
    return sum(1 for (done,) in rows if done)


async def store_outage(role: str, seconds: float, every_s: float = 0.2) -> int:
    """Keep the role's store unavailable for ``seconds``; returns sessions terminated."""
    loop = asyncio.get_running_loop()
    conn = await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True)
    terminated = 0
    try:
        await conn.execute(f'ALTER ROLE "{role}" NOLOGIN')  # type: ignore[arg-type]
        until = loop.time() + seconds
        try:
            while loop.time() < until:
                cur = await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE usename = %s", (role,))
                terminated += sum(1 for (done,) in await cur.fetchall() if done)
                await asyncio.sleep(every_s)  # the fault's own rhythm
        finally:
            await conn.execute(f'ALTER ROLE "{role}" LOGIN')  # type: ignore[arg-type]
    finally:
        await conn.close()
    return terminated
