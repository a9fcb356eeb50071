"""The broker adapter for each account."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from contracts import streams
from libs.brokers.base import Broker, BrokerReader, BrokerRejected
from libs.brokers.paper import PaperBroker
from libs.registry.models import EXCHANGE_BROKERS, Account
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock
from libs.runtime.config import Settings


class Brokers:
    """Hands out the adapter an account trades through.

    The Alpaca adapter may be given as a factory: alpaca-py costs ~50 MB of memory
    in every service that imports it, so it is loaded only once an Alpaca account
    trades.
    """

    def __init__(self, paper: PaperBroker,
                 alpaca: Broker | Callable[[], Broker] | None = None,
                 exchanges: Callable[[str], Broker] | None = None) -> None:
        self.paper = paper
        self._alpaca = alpaca
        # Crypto venues through ccxt (binance, bybit, okx, orderly), built on first use
        # like Alpaca (ccxt is a large import).
        self._exchange_factory = exchanges
        self._exchanges: dict[str, Broker] = {}

    @property
    def alpaca(self) -> Broker | None:
        """The Alpaca adapter (built on first use), or None when there is none."""
        if callable(self._alpaca) and not hasattr(self._alpaca, "submit"):
            self._alpaca = self._alpaca()
        return self._alpaca  # type: ignore[return-value]

    async def market_price(self, symbol: str) -> Decimal | None:
        """The last price the system saw for ``symbol`` (ticks, alert prices)."""
        return await self.paper.market_price(symbol)

    def reader_for(self, account: Account) -> BrokerReader:
        """The adapter of ``account`` seen read-only: what every service but the
        executor uses (only the executor writes to a broker)."""
        return self.for_account(account)

    def for_account(self, account: Account) -> Broker:
        """The adapter of ``account`` for the executor, the one writer of orders;
        BrokerRejected if it is not configured."""
        if account.broker == "paper":
            return self.paper
        if account.broker == "alpaca" and account.alpaca and self.alpaca is not None:
            return self.alpaca
        if account.broker in EXCHANGE_BROKERS and account.exchange \
                and self._exchange_factory is not None:
            if account.broker not in self._exchanges:
                self._exchanges[account.broker] = self._exchange_factory(account.broker)
            return self._exchanges[account.broker]
        raise BrokerRejected("broker_not_configured",
                             f"account {account.id} has no usable {account.broker} settings")


async def build_brokers(bus: Bus, settings: Settings, clock: Clock) -> Brokers:
    """Adapters for every broker this build supports."""
    paper = PaperBroker(
        await bus.kv(streams.BUCKET_PAPER), clock,
        slippage_bps=Decimal(str(settings.paper_slippage_bps)),
        fee_bps=Decimal(str(settings.paper_fee_bps)),
        prices=await bus.kv(streams.BUCKET_PRICES),
    )

    def alpaca() -> Broker:
        from libs.brokers.alpaca import AlpacaBroker

        return AlpacaBroker(clock, timeout=settings.alpaca_timeout_s,
                            attempts=settings.alpaca_attempts,
                            base_wait=settings.alpaca_retry_base_s)

    def exchange(venue: str) -> Broker:
        from libs.brokers.ccxt_broker import CcxtBroker

        return CcxtBroker(venue, clock, timeout=settings.exchange_timeout_s,
                          attempts=settings.exchange_attempts,
                          base_wait=settings.exchange_retry_base_s,
                          rate_limit=settings.exchange_rate_limit, prices=paper.prices)

    return Brokers(paper, alpaca, exchange)
