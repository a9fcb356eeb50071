"""Everything an operator API handler needs, built once in bootstrap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from aiohttp import web

from libs.intake.ratelimit import RateLimiter, ScopeLimits
from libs.registry.api_keys import ApiKeys
from libs.registry.cache import StrategyCache
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock
from libs.runtime.config import Settings
from projections.readmodel import ReadModel
from projections.store import EventStore


@dataclass
class ApiContext:
    """Wired dependencies of the operator service."""

    settings: Settings
    bus: Bus
    strategies: StrategyCache
    store: EventStore
    read_model: ReadModel
    clock: Clock
    # The test tool's alerts count against the same limits as webhooks.
    limiter: RateLimiter
    scope_limits: ScopeLimits
    api_keys: ApiKeys

    # Everything made from one NATS connection: replaced together when the server
    # closes that connection for good and a fresh one is made.
    BUS_BOUND: ClassVar[tuple[str, ...]] = ("bus", "strategies", "limiter", "scope_limits",
                                           "api_keys")

    def rebind(self, fresh: ApiContext) -> None:
        """Take ``fresh``'s connection and everything made from it, in place (the HTTP
        app holds this object)."""
        for name in self.BUS_BOUND:
            setattr(self, name, getattr(fresh, name))


# The key of the context in the aiohttp application (typed, unlike a plain string).
CONTEXT: web.AppKey[ApiContext] = web.AppKey("ctx", ApiContext)
