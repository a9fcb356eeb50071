"""Judging a callback URL where it is registered: the static rules, then every
address its name resolves to now (the dispatcher judges them again on every
connection: :mod:`libs.callbacks.outbound`)."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

from libs.callbacks.addresses import literal_address, resolved_problem, target_problem

RESOLVE_TIMEOUT_S = 5.0


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (empty when it does not)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S)
    except (OSError, TimeoutError):
        return []
    return sorted({str(info[4][0]) for info in infos})


async def registration_problem(url: str, allow_loopback: bool) -> str | None:
    """Why ``url`` may not be registered as a callback, or None."""
    problem = target_problem(url, allow_loopback)
    if problem is not None:
        return problem
    parts = urlsplit(url)
    host = parts.hostname or ""
    if literal_address(host) is not None:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return resolved_problem(host, await resolve(host, port))
