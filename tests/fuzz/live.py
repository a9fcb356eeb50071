"""The live system the hostile-body tests post to."""

from __future__ import annotations

from harness import EventTap, System, Tenancy

from libs.runtime.bus import Bus

# Ingress answers every bad body itself; the validator turns an accepted but
# untradeable alert into webhook.failed. Nothing downstream is needed.
LIVE_SERVICES = ("validator", "ingress")


class Live:
    """A running ingress + validator, a bus, an event tap and one provisioned strategy."""

    def __init__(self, system: System, bus: Bus, tap: EventTap, tenancy: Tenancy) -> None:
        self.system = system
        self.bus = bus
        self.tap = tap
        self.tenancy = tenancy

    @property
    def url(self) -> str:
        """The strategy's webhook URL with its token in the query (what TradingView uses)."""
        return self.system.webhook_url(self.tenancy.strategy)
