"""The broker adapter for each account."""

from __future__ import annotations

from decimal import Decimal

from contracts import streams
from services.brokers.base import Broker, BrokerRejected
from services.brokers.paper import PaperBroker
from services.registry.models import Account
from services.runtime.bus import Bus
from services.runtime.clock import Clock
from services.runtime.config import Settings


class Brokers:
    """Hands out the adapter an account trades through."""

    def __init__(self, paper: PaperBroker, alpaca: Broker | None = None) -> None:
        self.paper = paper
        self.alpaca = alpaca

    def for_account(self, account: Account) -> Broker:
        """The adapter of ``account``; BrokerRejected if it is not configured."""
        if account.broker == "paper":
            return self.paper
        if account.broker == "alpaca" and self.alpaca is not None and account.alpaca:
            return self.alpaca
        raise BrokerRejected("broker_not_configured",
                             f"account {account.id} has no usable {account.broker} settings")


async def build_brokers(bus: Bus, settings: Settings, clock: Clock) -> Brokers:
    """Adapters for every broker this build supports."""
    from services.brokers.alpaca import AlpacaBroker

    paper = PaperBroker(
        await bus.kv(streams.BUCKET_PAPER), clock,
        slippage_bps=Decimal(str(settings.paper_slippage_bps)),
        fee_bps=Decimal(str(settings.paper_fee_bps)),
        prices=await bus.kv(streams.BUCKET_PRICES),
    )
    alpaca = AlpacaBroker(clock, timeout=settings.alpaca_timeout_s,
                          attempts=settings.alpaca_attempts,
                          base_wait=settings.alpaca_retry_base_s)
    return Brokers(paper, alpaca)
