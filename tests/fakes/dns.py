"""A stand-in for DNS: every name resolves to one chosen address (a rebinding
attacker's answer), so SSRF guards can be tested without a DNS server."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
from aiohttp.abc import ResolveResult


class StubResolver:
    """Resolves every name to ``address``."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        """``host`` → the one chosen address."""
        return [{"hostname": host, "host": self.address, "port": port, "family": family,
                 "proto": 0, "flags": 0}]

    async def close(self) -> None:
        """Nothing to release."""
        return None


def resolve_everything_to(session: aiohttp.ClientSession, address: str) -> None:
    """Make a guarded session (:func:`libs.callbacks.outbound.outbound_session`) look
    names up in a :class:`StubResolver`; its guard still judges what comes back."""
    connector: Any = session.connector
    connector._resolver._inner = StubResolver(address)
