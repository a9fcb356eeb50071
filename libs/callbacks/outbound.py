"""The dispatcher's HTTP client: it connects only to addresses the SSRF rules allow.

A name is resolved by :class:`GuardedResolver`, which judges every address the name
resolved to (:func:`~libs.callbacks.addresses.resolved_problem`) and hands aiohttp
only judged ones: aiohttp then connects to exactly those (TLS still checks the
certificate against the name). aiohttp does not resolve a literal address, so
:func:`connection_problem` judges a URL's literal address before each request.
No environment proxies, no DNS cache (a name is judged at every connection), and
redirects are the caller's to refuse (``allow_redirects=False``).

One session serves the dispatcher's life, so connections are kept alive and reused
(aiohttp's default idle time, 15 s). A pooled connection is only ever reused for the
same host as written in the URL, port and TLS settings it was made for, and it stays
connected to the address that was judged when it was made: a name that later resolves
elsewhere (DNS rebinding) cannot move it, and any new connection is resolved and
judged again. A response whose body is not read to its end (more than the caller
reads) closes its connection instead of returning it to the pool.
"""

from __future__ import annotations

import socket
import ssl

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from libs.callbacks.addresses import resolved_problem, target_problem


class AddressRefused(OSError):
    """A callback's host resolved to an address the SSRF rules refuse."""


class GuardedResolver(AbstractResolver):
    """Resolves names like aiohttp's threaded resolver, then refuses the lot when any
    address is not allowed."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        """Every address of ``host``, each allowed; AddressRefused otherwise."""
        results = await self._inner.resolve(host, port, family)
        problem = resolved_problem(host, [r["host"] for r in results])
        if problem is not None:
            raise AddressRefused(problem)
        return results

    async def close(self) -> None:
        """Release the inner resolver."""
        await self._inner.close()


def connection_problem(url: str, allow_loopback: bool) -> str | None:
    """Why a request to ``url`` may not even start (scheme, literal address), or None;
    names are judged when they are resolved."""
    return target_problem(url, allow_loopback)


def refused_by(exc: BaseException) -> str | None:
    """The SSRF refusal behind an aiohttp connection error, if that is what it is."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AddressRefused):
            return str(seen)
        inner = getattr(seen, "os_error", None)
        if isinstance(inner, AddressRefused):
            return str(inner)
        seen = seen.__cause__ or seen.__context__
    return None


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """The system's trusted authorities, plus those of ``ca_file`` (PEM) if given."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def outbound_session(timeout_s: float, ca_file: str = "", limit: int = 64
                     ) -> aiohttp.ClientSession:
    """A session that resolves through :class:`GuardedResolver`, trusts ``ca_file``
    too, ignores proxy variables and gives up after ``timeout_s`` per request."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(), ssl=tls_context(ca_file),
                                     use_dns_cache=False, limit=limit)
    return aiohttp.ClientSession(connector=connector, trust_env=False,
                                 timeout=aiohttp.ClientTimeout(total=timeout_s),
                                 auto_decompress=False)
