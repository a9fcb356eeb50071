"""A TCP proxy between one service and the nats-server that can break the connection.

Each service of a fault test connects through its own proxy, so a fault reaches
exactly one service's connection to the real server:

- :meth:`NatsProxy.inject_err` sends the client a server ``-ERR`` (by default the
  answer nats-server gives a protocol line over its ``max_control_line``) at the
  next boundary between protocol frames, and then closes the connection as the
  server does. nats-py closes such a connection for good.
- :meth:`NatsProxy.disconnect` drops every connection at once (a network cut);
  nats-py reconnects by itself.

The proxy reads the server's side frame by frame (``MSG``/``HMSG`` carry a payload
of a declared size), so an injected line never lands inside a message.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from ports import free_port

CONTROL_LINE_ERR = b"-ERR 'Maximum Control Line Exceeded'\r\n"


@dataclass
class _ServerFrames:
    """Splits the server's byte stream at frame boundaries."""

    line: bytes = b""
    payload_left: int = 0  # bytes of the current MSG/HMSG payload (with its CRLF) to come

    def feed(self, data: bytes) -> list[tuple[bytes, bool]]:
        """``data`` cut into pieces, each with whether it ends at a frame boundary."""
        pieces: list[tuple[bytes, bool]] = []
        out = bytearray()
        rest = data
        while rest:
            if self.payload_left:
                take = min(self.payload_left, len(rest))
                out += rest[:take]
                rest = rest[take:]
                self.payload_left -= take
                if not self.payload_left:
                    pieces.append((bytes(out), True))
                    out.clear()
                continue
            end = rest.find(b"\n")
            if end < 0:
                self.line += rest
                break
            line, rest = self.line + rest[:end + 1], rest[end + 1:]
            self.line = b""
            out += line
            words = line.split()
            if words and words[0] in (b"MSG", b"HMSG"):
                self.payload_left = int(words[-1]) + 2
            else:
                pieces.append((bytes(out), True))
                out.clear()
        if out:
            pieces.append((bytes(out), False))
        return pieces

    @property
    def at_boundary(self) -> bool:
        return not self.line and not self.payload_left


@dataclass(eq=False)
class _Pair:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    frames: _ServerFrames = field(default_factory=_ServerFrames)
    pending_err: bytes | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def close(self) -> None:
        for writer in (self.client, self.server):
            with contextlib.suppress(Exception):
                writer.close()
        self.done.set()


class NatsProxy:
    """Forwards one local port to the nats-server; counts and breaks connections."""

    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.upstream_port = upstream_port
        self.port = free_port()
        self.connections = 0  # made so far
        self._pairs: set[_Pair] = set()
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)

    async def stop(self) -> None:
        self.disconnect()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def live(self) -> int:
        """Connections open right now."""
        return len(self._pairs)

    async def wait_connections(self, count: int, timeout: float) -> None:
        """Until ``count`` connections were made in all (and one is open)."""
        async def _wait() -> None:
            async with self._changed:
                while self.connections < count or not self._pairs:
                    await self._changed.wait()

        try:
            await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no connection #{count} within {timeout} s "
                                 f"({self.connections} made, {self.live} open)") from None

    def inject_err(self, line: bytes = CONTROL_LINE_ERR) -> int:
        """Send ``line`` to every connected client at its next frame boundary, then
        close that connection; returns how many connections it will hit."""
        for pair in self._pairs:
            pair.pending_err = line
            if pair.frames.at_boundary:
                self._err_now(pair)
        return len(self._pairs)

    def disconnect(self) -> int:
        """Drop every open connection; returns how many."""
        pairs = list(self._pairs)
        for pair in pairs:
            pair.close()
        return len(pairs)

    def _err_now(self, pair: _Pair) -> None:
        line, pair.pending_err = pair.pending_err, None
        if line is None:
            return
        with contextlib.suppress(Exception):
            pair.client.write(line)
        # Like the server after a fatal error: the connection ends (the bytes written
        # are still delivered before the close).
        pair.close()

    async def _accept(self, client_r: asyncio.StreamReader,
                      client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            client_w.close()
            return
        pair = _Pair(client_w, server_w)
        self._pairs.add(pair)
        async with self._changed:
            self.connections += 1
            self._changed.notify_all()
        upstream = asyncio.create_task(self._pipe(client_r, server_w, pair))
        downstream = asyncio.create_task(self._from_server(server_r, pair))
        try:
            await pair.done.wait()
        finally:
            for task in (upstream, downstream):
                task.cancel()
            pair.close()
            self._pairs.discard(pair)
            async with self._changed:
                self._changed.notify_all()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    pair: _Pair) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            pair.close()

    async def _from_server(self, reader: asyncio.StreamReader, pair: _Pair) -> None:
        try:
            while data := await reader.read(65536):
                for piece, boundary in pair.frames.feed(data):
                    pair.client.write(piece)
                    if boundary and pair.pending_err is not None:
                        self._err_now(pair)
                        return
                await pair.client.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            pair.close()
