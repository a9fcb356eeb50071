"""Build the broker adapters a process needs."""

from __future__ import annotations

from decimal import Decimal

from contracts import streams
from services.brokers.base import Broker
from services.brokers.paper import PaperBroker
from services.runtime.bus import Bus
from services.runtime.clock import Clock
from services.runtime.config import Settings


async def build_brokers(bus: Bus, settings: Settings, clock: Clock) -> dict[str, Broker]:
    """Adapters by broker name, as accounts refer to them."""
    paper = PaperBroker(
        await bus.kv(streams.BUCKET_PAPER), clock,
        slippage_bps=Decimal(str(settings.paper_slippage_bps)),
        fee_bps=Decimal(str(settings.paper_fee_bps)),
    )
    return {"paper": paper}
