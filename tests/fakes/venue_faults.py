"""Fault injection shared by the fake crypto venues (the Alpaca fake's kinds).

``fail_next(target, kind)``: an HTTP status ("429", "500", "503", ...) answered
without doing anything; "timeout": no answer for ``hang_seconds`` (nothing done);
"accept_then_timeout": do it, then no answer; "accept_then_drop": do it, then close
the connection unanswered. ``target`` is ``"POST /api/v3/order"`` or a path alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiohttp import web
from fakes.alpaca_server import FAULT_KINDS, Fault

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorAnswer = Callable[[int, str], web.Response]


class Faults:
    """Queued faults, the requests seen, and the middleware that applies them."""

    def __init__(self, error: ErrorAnswer, hang_seconds: float = 2.0) -> None:
        self.error = error
        self.hang_seconds = hang_seconds
        self.queued: list[Fault] = []
        self.injected: list[tuple[str, str]] = []
        self.requests: list[str] = []
        self.stopping = asyncio.Event()

    def fail_next(self, target: str, kind: str, times: int = 1,
                  message: str | None = None) -> None:
        """Make the next ``times`` requests to ``target`` fail in ``kind``
        ("reject": a 400 refusal with ``message``)."""
        if kind not in (*FAULT_KINDS, "reject") and not kind.isdigit():
            raise ValueError(f"unknown fault kind {kind!r}")
        self.queued.append(Fault(target, kind, times, message))

    def count(self, request: str) -> int:
        """How many ``"METHOD /path"`` requests arrived."""
        return self.requests.count(request)

    async def apply(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer ``request`` through ``handler`` unless a fault is due."""
        self.requests.append(f"{request.method} {request.path}")
        fault = self._take(request.method, request.path)
        if fault is None:
            return await handler(request)
        self.injected.append((f"{request.method} {request.path}", fault.kind))
        if fault.kind.isdigit():
            return self.error(int(fault.kind), f"fake failure {fault.kind}")
        if fault.kind == "reject":
            return self.error(400, fault.message or "order refused")
        if fault.kind == "timeout":
            await self._hang()
            return self.error(504, "answer nobody waits for")
        response = await handler(request)
        if fault.kind == "accept_then_timeout":
            await self._hang()
            return response
        assert request.transport is not None  # accept_then_drop
        request.transport.abort()
        raise asyncio.CancelledError

    def _take(self, method: str, path: str) -> Fault | None:
        for fault in self.queued:
            if fault.matches(method, path):
                fault.times -= 1
                if fault.times <= 0:
                    self.queued.remove(fault)
                return fault
        return None

    async def _hang(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), self.hang_seconds)
