"""What every fake crypto venue shares: a server on loopback and its URL, start and
stop, the fault switch (:class:`fakes.venue_faults.Faults`), the order id counter, and
a middleware that checks a request's credentials, applies the faults and answers a
:class:`Refusal` a handler raises.

A venue says only what is its own: its routes (:meth:`FakeVenue.route`), which
requests must be signed and how (:meth:`FakeVenue.refuse`), and how it words a
refusal (its ``error`` function and :meth:`Refusal.answer`).
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod

from aiohttp import web
from fakes.loopback import LoopbackServer
from fakes.venue_faults import ErrorAnswer, Faults, Handler


class Refusal(Exception):
    """A venue's refusal of a request, raised by a handler; it words its own answer."""

    @abstractmethod
    def answer(self) -> web.Response:
        """The venue's answer to the refused request."""


class FakeVenue(ABC):
    """One fake venue served on 127.0.0.1 once :meth:`start` ran.

    ``error`` answers an injected fault ("429", "503", ...) as the venue would;
    ``first_id`` is the first order id ``self._ids`` hands out.
    """

    def __init__(self, error: ErrorAnswer, hang_seconds: float, first_id: int) -> None:
        self.faults = Faults(error, hang_seconds)
        self._ids = itertools.count(first_id)
        self._server = LoopbackServer()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self._server.url

    async def start(self) -> None:
        """Serve the venue's routes behind the credentials-and-faults middleware."""
        app = web.Application(middlewares=[self._middleware])
        self.route(app.router)
        await self._server.serve(app)

    async def stop(self) -> None:
        """Stop serving; requests hanging in an injected fault end now."""
        self.faults.stopping.set()
        await self._server.close()

    @abstractmethod
    def route(self, routes: web.UrlDispatcher) -> None:
        """Add the venue's endpoints to ``routes``."""

    @abstractmethod
    async def refuse(self, request: web.Request) -> web.StreamResponse | None:
        """The answer refusing ``request``'s credentials or signature, or None to serve
        it (public endpoints, a valid signature; may store the parsed body on it)."""

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = await self.refuse(request)
        if refused is not None:
            return refused

        async def answer(req: web.Request) -> web.StreamResponse:
            try:
                return await handler(req)
            except Refusal as exc:
                return exc.answer()
        return await self.faults.apply(request, answer)
