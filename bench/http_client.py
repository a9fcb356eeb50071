"""A lean open-loop HTTP/1.1 sender for the benchmarks.

The benchmarks share the machine's cores with what they measure, so the sender must
cost little: requests are built as bytes before the clock starts (signed alerts), sent
over keep-alive connections with plain asyncio protocols (no client library per
request), and each answer is parsed only as far as its status and body. Sending is
open loop: request ``i`` is due at ``start + i / rate`` whatever the server does, and
its latency counts from that moment, so a slow server cannot hide its queueing by
slowing the sender down. When every connection is busy a new one is opened (up to
``max_connections``); after that due requests wait for a free connection, and the
wait counts in their latency.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson

from bench.alerts import Alert


@dataclass
class Answer:
    """One request's outcome: HTTP status (0: the connection failed), the signal id a
    202 named, when it was due and how long after that its answer came (seconds)."""

    status: int
    signal_id: str
    due: float
    latency: float


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((0, b""))

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        """Write ``request``; the future answers (status, body)."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        length = 0
        at = head.find(b"content-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at)
            length = int(head[at + 15:stop if stop >= 0 else None])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        body = bytes(self.buffer[end + 4:end + 4 + length])
        del self.buffer[:end + 4 + length]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body))


def request_bytes(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A complete HTTP/1.1 POST of ``body`` to ``url`` with ``headers``."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}",
             *(f"{k}: {v}" for k, v in headers.items()), f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class OpenLoop:
    """Sends prepared requests to one host at a fixed rate and records every answer."""

    host: str
    port: int
    max_connections: int = 256
    answers: list[Answer] = field(default_factory=list)
    _idle: collections.deque[_Connection] = field(default_factory=collections.deque)
    _open: int = 0
    _freed: asyncio.Event = field(default_factory=asyncio.Event)

    async def _connection(self) -> _Connection:
        while True:
            while self._idle:
                conn = self._idle.popleft()
                if not conn.closed:
                    return conn
                self._open -= 1
            if self._open < self.max_connections:
                self._open += 1
                try:
                    _, conn = await asyncio.get_running_loop().create_connection(
                        _Connection, self.host, self.port)
                except OSError:
                    self._open -= 1
                    raise
                return conn
            self._freed.clear()
            await self._freed.wait()

    async def _one(self, request: bytes, due: float) -> None:
        try:
            conn = await self._connection()
        except OSError:
            self.answers.append(Answer(0, "", due, time.perf_counter() - due))
            return
        status, body = await conn.send(request)
        latency = time.perf_counter() - due
        signal_id = ""
        if status == 202:
            signal_id = str(orjson.loads(body).get("signal_id", ""))
        self.answers.append(Answer(status, signal_id, due, latency))
        if conn.closed or status == 0:
            self._open -= 1
        else:
            self._idle.append(conn)
            self._freed.set()

    async def run(self, alerts: list[Alert], rate: float) -> float:
        """Send ``alerts`` at ``rate`` per second from 0.2 s from now; wait for every
        answer. Returns the wall time from the first due moment to the last answer."""
        requests = [request_bytes(a.url, a.body, a.headers) for a in alerts]
        start = time.perf_counter() + 0.2
        pending: set[asyncio.Task[None]] = set()
        for i, request in enumerate(requests):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(self._one(request, due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)
        return time.perf_counter() - start

    def close(self) -> None:
        """Close the idle connections."""
        while self._idle:
            conn = self._idle.popleft()
            if conn.transport is not None:
                conn.transport.close()
