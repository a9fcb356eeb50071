"""Everything a webhook request handler needs, built once in bootstrap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from aiohttp import web

from libs.intake.ratelimit import RateLimiter, ScopeLimits
from libs.registry.cache import StrategyCache
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock
from libs.runtime.config import Settings
from services.ingress.accepted import AcceptedAlerts
from services.ingress.auth.failures import AuthFailureAlerts
from services.ingress.client_ip import Network


@dataclass
class IngressContext:
    """Wired dependencies of the ingress process."""

    settings: Settings
    bus: Bus
    strategies: StrategyCache
    clock: Clock
    limiter: RateLimiter
    scope_limits: ScopeLimits
    trusted_proxies: list[Network]
    auth_alerts: AuthFailureAlerts
    accepted: AcceptedAlerts

    # Everything made from one NATS connection: replaced together when the server
    # closes that connection for good and a fresh one is made.
    BUS_BOUND: ClassVar[tuple[str, ...]] = ("bus", "strategies", "limiter", "scope_limits",
                                           "auth_alerts", "accepted")

    def rebind(self, fresh: IngressContext) -> None:
        """Take ``fresh``'s connection and everything made from it, in place (the HTTP
        app holds this object)."""
        for name in self.BUS_BOUND:
            setattr(self, name, getattr(fresh, name))


# The key of the context in the aiohttp application (typed, unlike a plain string).
CONTEXT: web.AppKey[IngressContext] = web.AppKey("ctx", IngressContext)
