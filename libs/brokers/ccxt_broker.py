"""Crypto venues through ccxt (async): Binance, Bybit, OKX and the Orderly Network.

One adapter per venue, one ccxt exchange per account configuration. Every order
carries our ``client_order_id`` in the venue's own field (shortened deterministically
where the venue's rule demands, :func:`venue_client_id`), and every attempt of a
submit first looks the order up by it, so an order the venue took while its answer
was lost is found instead of placed twice. Timeouts, dropped connections, 429 and
5xx are retried with exponential backoff and jitter; refusals are never retried.
Perpetual accounts get their leverage and margin mode set on each market before its
first order; exits and protective legs are reduce-only there. Spot accounts cannot
sell more than they hold (no spot shorts).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import ccxt.async_support as ccxt_async
from ccxt.base import errors as ccxt_errors
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from contracts.orders import BrokerOrder, OrderRequest, Side
from libs.brokers.base import AccountSnapshot, BrokerRejected, BrokerUnavailable
from libs.brokers.capabilities import Capabilities, crypto_venue
from libs.brokers.ccxt_orders import broker_order, contract_size, decimal, venue_order
from libs.brokers.ccxt_symbols import (
    listed_client_id,
    pipeline_symbol,
    venue_client_id,
    venue_symbol,
)
from libs.brokers.ccxt_venues import VENUES, Venue, overridden_urls
from libs.brokers.market_prices import MarketPrices
from libs.registry.models import Account, ExchangeConfig
from libs.runtime.clock import Clock

log = logging.getLogger(__name__)
T = TypeVar("T")
ZERO = Decimal(0)
KNOWN_ORDERS = 10_000
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class _Transient(Exception):
    """A failure worth retrying: no answer, 429 or 5xx."""



def base58_to_bytes(text: str) -> bytes:
    """Base58 (the Bitcoin alphabet, as Orderly spells its keys) to bytes, every leading
    ``1`` a zero byte."""
    number = 0
    for char in text:
        number = number * 58 + _BASE58.index(char)
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + (number.to_bytes((number.bit_length() + 7) // 8, "big")
                             if number else b"")

class CcxtBroker:
    """Orders on one ccxt venue (``binance``, ``bybit``, ``okx`` or ``orderly``)."""

    keeps_legs_with_position = False
    fills_report_position = False

    def __init__(self, venue: str, clock: Clock, *, timeout: float = 5.0, attempts: int = 4,
                 base_wait: float = 0.5, max_wait: float = 8.0,
                 rate_limit: bool = True, prices: MarketPrices | None = None) -> None:
        self.venue: Venue = VENUES[venue]
        # The last prices the system saw (alert prices, ticks): a spot account's
        # coins are worth their quantity at these in its equity.
        self.prices = prices
        self.name = venue
        # The venue at its most (perpetuals); a spot account can do less:
        # ``capabilities_for(account)`` is what the validator enforces per account.
        self.capabilities: Capabilities = crypto_venue(venue, "perp")
        self.clock = clock
        self.timeout = timeout
        self.attempts = attempts
        self.base_wait = base_wait
        self.max_wait = max_wait
        # ccxt's throttle spaces requests by the venue's published weights (a listing
        # of every open order weighs 40 on Binance: ~2 s); fakes in tests skip it.
        self.rate_limit = rate_limit
        self._exchanges: dict[ExchangeConfig, Any] = {}
        self._prepared: set[tuple[ExchangeConfig, str]] = set()
        # Venue client id -> (our client order id, pipeline symbol), for the latest
        # orders this process placed or listed (a venue id may be a digest of ours);
        # bounded: the oldest are dropped first.
        self._known: OrderedDict[str, tuple[str, str]] = OrderedDict()

    # -- Broker protocol ------------------------------------------------------

    async def snapshot(self, account: Account) -> AccountSnapshot:
        """Cash and equity in the venue's settlement currency; positions signed
        (perpetuals: short < 0; spot: the coins held, in equity at the last price the
        system saw for each: alert prices and ticks)."""
        config, exchange = await self._ready(account)
        cash_ccy = self.venue.cash_currency
        balance = await self._retried("fetch balance", lambda: exchange.fetch_balance())
        free = decimal((balance.get("free") or {}).get(cash_ccy)) or ZERO
        total = decimal((balance.get("total") or {}).get(cash_ccy)) or free
        positions: dict[str, Decimal] = {}
        prices: dict[str, Decimal] = {}
        equity = total
        if config.market == "perp":
            held = await self._retried("fetch positions", lambda: exchange.fetch_positions())
            for position in held:
                size = (decimal(position.get("contracts")) or ZERO) * \
                    (decimal(position.get("contractSize")) or Decimal(1))
                if size == 0:
                    continue
                symbol = pipeline_symbol(str(position.get("symbol")), self.name)
                positions[symbol] = -abs(size) if position.get("side") == "short" else abs(size)
                mark = decimal(position.get("markPrice")) or decimal(position.get("entryPrice"))
                if mark is not None:
                    prices[symbol] = mark
                if not self.venue.total_includes_unrealised:
                    equity += decimal(position.get("unrealizedPnl")) or ZERO
        else:
            for currency, amount in (balance.get("total") or {}).items():
                quantity = decimal(amount) or ZERO
                if currency != cash_ccy and quantity > 0:
                    positions[f"{currency}/{cash_ccy}"] = quantity
            if positions and self.prices is not None:
                # Unvalued, a spot account's equity fell by what it paid for its coins
                # (a breaker tripped on a purchase; sizing by equity shrank).
                prices = await self.prices.of(positions)
                equity += sum((quantity * prices[symbol]
                               for symbol, quantity in positions.items() if symbol in prices),
                              ZERO)
        return AccountSnapshot(cash=free, equity=equity, positions=positions,
                               last_prices=prices)

    async def find_order(self, account: Account, client_order_id: str,
                         symbol: str | None = None) -> BrokerOrder | None:
        """The order placed with ``client_order_id``, None if the venue has none.

        Most venues look an order up per market: the ``symbol`` given, else the one
        this process remembers for it; with neither, only a resting order is found
        (in the open-order listing), except where the venue needs no symbol."""
        config, exchange = await self._ready(account)
        vid = venue_client_id(client_order_id, self.venue.client_ids)
        symbol = symbol or self._known.get(vid, ("", ""))[1]
        if not symbol:
            for resting in await self.open_orders(account):
                if resting.client_order_id == client_order_id:
                    return resting
            if not self._lookup_needs_no_symbol():
                return None
        return await self._retried(f"find {client_order_id}",
                                   lambda: self._lookup(exchange, config, client_order_id,
                                                        symbol, None))

    async def submit(self, account: Account, order: OrderRequest) -> BrokerOrder:
        """Place ``order`` once; a repeat (or a retry after a lost answer) returns it."""
        config, exchange = await self._ready(account)
        if config.market not in self.venue.markets:
            raise BrokerRejected("unsupported_market",
                                 f"{self.name} has no {config.market} market")
        if order.notional is not None and order.order_type == "market" and order.quantity <= 0:
            raise BrokerRejected("bad_quantity", f"{self.name} takes quantities, not notionals")
        return await self._retried(f"submit {order.client_order_id}",
                                   lambda: self._place(exchange, config, order))

    async def cancel_order(self, account: Account, client_order_id: str,
                           reason: str = "canceled") -> BrokerOrder | None:
        """Cancel the order if it still rests; returns it as the venue now knows it
        (a filled order is reported filled, not an error)."""
        config, exchange = await self._ready(account)
        found = await self.find_order(account, client_order_id)
        if found is None or found.status != "open":
            return found
        vid = venue_client_id(client_order_id, self.venue.client_ids)
        unified = venue_symbol(found.symbol, config.market, self.name)
        params: dict[str, Any] = {self.venue.lookup_param: vid}
        if found.order_type == "stop" and config.market in self.venue.separate_stop_book:
            params["trigger"] = True
        try:
            await self._retried(f"cancel {client_order_id}",
                                lambda: exchange.cancel_order(found.order_id, unified, params))
        except BrokerRejected:  # e.g. it filled meanwhile: read it again
            log.info("%s: cancel of %s refused; re-reading it", self.name, client_order_id)
        return await self.find_order(account, client_order_id, found.symbol)

    async def resize_order(self, account: Account, client_order_id: str, quantity: Decimal,
                           reason: str) -> BrokerOrder | None:
        """A leg larger than the position is cancelled (amending in place would give
        some venues' orders new ids)."""
        return await self.cancel_order(account, client_order_id, reason)

    async def open_orders(self, account: Account) -> list[BrokerOrder]:
        """Every order still resting at the venue (stop orders included)."""
        config, exchange = await self._ready(account)
        kind = self.venue.listing(config.market)
        found = list(await self._retried("list open orders",
                                         lambda: exchange.fetch_open_orders(None, None, None,
                                                                            kind)))
        if config.market in self.venue.separate_stop_book:
            found += await self._retried("list open stop orders",
                                         lambda: exchange.fetch_open_orders(
                                             None, None, None, {**kind, "trigger": True}))
        return [self._ours(order, self._per(exchange, order)) for order in found]

    async def close(self) -> None:
        """Close every exchange's HTTP session."""
        for exchange in self._exchanges.values():
            await exchange.close()
        self._exchanges.clear()

    # -- placing ----------------------------------------------------------------

    async def _place(self, exchange: Any, config: ExchangeConfig,
                     order: OrderRequest) -> BrokerOrder:
        """One attempt: find the order, else size, round and send it."""
        unified = self._unified(order.symbol, config)
        existing = await self._lookup(exchange, config, order.client_order_id, order.symbol,
                                      order.order_type)
        if existing is not None:
            return existing
        if config.market == "perp":
            await self._prepare(exchange, config, unified)
        side, quantity, reduce_only = await self._exposure(exchange, config, order, unified)
        vid = venue_client_id(order.client_order_id, self.venue.client_ids)
        sent = venue_order(exchange, order, unified, side, quantity, vid, reduce_only,
                           contract=config.market == "perp",
                           stop_direction=self.venue.stop_direction
                           and config.market == "perp",
                           margin_mode=config.margin_mode
                           if self.venue.margin_mode_per_order else "",
                           stop_client_param=self.venue.stop_client_param)
        self._remember(vid, order.client_order_id, order.symbol)
        try:
            placed = await self._once(lambda: exchange.create_order(
                sent.symbol, sent.type, sent.side, float(sent.amount),
                None if sent.price is None else float(sent.price), sent.params))
        except BrokerRejected as refusal:  # a duplicate client id: it exists after all
            found = await self._lookup(exchange, config, order.client_order_id, order.symbol,
                                       order.order_type)
            if found is None:
                raise
            log.info("%s: %s was placed before (%s)", self.name, order.client_order_id,
                     refusal.reason)
            return found
        log.info("%s: %s %s %s %s -> %s", self.name, order.client_order_id, side, sent.amount,
                 unified, placed.get("status"))
        if placed.get("status") is None or placed.get("amount") is None:
            # Some venues answer a create with the id only: read the order itself.
            found = await self._lookup(exchange, config, order.client_order_id, order.symbol,
                                       order.order_type)
            if found is not None:
                return found
        return broker_order(placed, order.client_order_id, order.symbol, self.clock.now(),
                            self._per(exchange, placed))

    async def _exposure(self, exchange: Any, config: ExchangeConfig, order: OrderRequest,
                        unified: str) -> tuple[Side, Decimal, bool]:
        """Side, size and reduce-only flag: closes and exits follow the position held
        now and never cross zero; spot sells never exceed the coins held."""
        side, quantity = order.side, order.quantity
        exits = order.close_position or order.reduce_only or bool(order.leg)
        if not exits and not (config.market == "spot" and side == "sell"):
            return side, quantity, False
        held = await self._held(exchange, config, unified)
        if order.close_position:
            if held == 0:
                raise BrokerRejected("no_position", f"no open position in {order.symbol} "
                                     "to close")
            return ("sell" if held > 0 else "buy"), abs(held), True
        if exits:
            if held == 0 or (held > 0) != (side == "sell"):
                wanted = "long" if side == "sell" else "short"
                what = "protect" if order.leg else "reduce"
                raise BrokerRejected("no_position",
                                     f"no {wanted} position in {order.symbol} to {what}")
            return side, min(quantity, abs(held)), True
        if quantity > held:  # a spot sell of more than is held would be a short
            raise BrokerRejected("no_spot_shorts", f"{self.name} spot cannot short: selling "
                                 f"{quantity} {order.symbol} with {held} held")
        return side, quantity, False

    async def _held(self, exchange: Any, config: ExchangeConfig, unified: str) -> Decimal:
        """Signed position in ``unified`` (perp) or the base coin held (spot)."""
        if config.market == "spot":
            balance = await self._once(lambda: exchange.fetch_balance())
            base = exchange.market(unified)["base"]
            return decimal((balance.get("total") or {}).get(base)) or ZERO
        positions = await self._once(lambda: exchange.fetch_positions([unified]))
        for position in positions:
            if position.get("symbol") != unified:
                continue
            size = (decimal(position.get("contracts")) or ZERO) * \
                (decimal(position.get("contractSize")) or Decimal(1))
            if size:
                return -abs(size) if position.get("side") == "short" else abs(size)
        return ZERO

    async def _prepare(self, exchange: Any, config: ExchangeConfig, unified: str) -> None:
        """Margin mode and leverage of a perpetual market, once per market and config.
        A venue that says it is set already (or cannot change it) is not an error."""
        if (config, unified) in self._prepared:
            return
        if self.venue.margin_mode_per_order:
            # OKX: the margin mode is each order's tdMode; leverage is set per mode.
            if config.leverage is not None:
                await self._once(lambda: exchange.set_leverage(
                    config.leverage, unified, {"marginMode": config.margin_mode}))
            self._prepared.add((config, unified))
            return
        if exchange.has.get("setMarginMode"):
            try:
                await self._once(lambda: exchange.set_margin_mode(config.margin_mode, unified))
            except BrokerRejected as refusal:
                log.info("%s: margin mode of %s stays: %s", self.name, unified, refusal.reason)
        if config.leverage is not None and exchange.has.get("setLeverage"):
            await self._once(lambda: exchange.set_leverage(config.leverage, unified))
        self._prepared.add((config, unified))

    # -- lookups ------------------------------------------------------------------

    async def _lookup(self, exchange: Any, config: ExchangeConfig, client_order_id: str,
                      symbol: str, order_type: str | None) -> BrokerOrder | None:
        """The order with our id, in the regular book and (where stops live apart and
        the type is unknown or a stop) in the stop book."""
        vid = venue_client_id(client_order_id, self.venue.client_ids)
        unified = self._unified(symbol, config) if symbol else None
        books = [False]
        if config.market in self.venue.separate_stop_book:
            books = [True] if order_type == "stop" else [False] if order_type else [False, True]
        for trigger in books:
            params: dict[str, Any] = {self.venue.lookup_param: vid}
            if trigger:
                params["trigger"] = True
            try:
                found = await self._fetch_order(exchange, unified, params)
            except _NotFound:
                continue
            except BrokerRejected as refusal:
                marker = self.venue.not_found_marker
                if marker and marker in refusal.reason:
                    continue
                raise
            if found:
                self._remember(vid, client_order_id, symbol or self._pipeline(found))
                return broker_order(found, client_order_id, symbol or self._pipeline(found),
                                    self.clock.now(), self._per(exchange, found))
        return None

    async def _fetch_order(self, exchange: Any, unified: str | None,
                           params: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = await self._once(lambda: exchange.fetch_order("", unified, params))
        return found

    def _lookup_needs_no_symbol(self) -> bool:
        return self.name == "orderly"

    def _ours(self, found: dict[str, Any], per: Decimal) -> BrokerOrder:
        vid = str(found.get("clientOrderId") or "")
        listed = listed_client_id(vid, self.venue.client_ids) if vid else str(found.get("id"))
        ours, symbol = self._known.get(vid, (listed, ""))
        symbol = symbol or self._pipeline(found)
        if vid not in self._known:
            self._remember(vid, ours, symbol)
        return broker_order(found, ours, symbol, self.clock.now(), per)

    @staticmethod
    def _per(exchange: Any, found: dict[str, Any]) -> Decimal:
        """Coins per unit of the amounts in ``found`` (contracts on OKX swaps)."""
        return contract_size(exchange.markets.get(str(found.get("symbol") or "")))

    def _remember(self, vid: str, ours: str, symbol: str) -> None:
        self._known[vid] = (ours, symbol)
        self._known.move_to_end(vid)
        while len(self._known) > KNOWN_ORDERS:
            self._known.popitem(last=False)

    def _pipeline(self, found: dict[str, Any]) -> str:
        return pipeline_symbol(str(found.get("symbol") or ""), self.name)

    def _unified(self, symbol: str, config: ExchangeConfig) -> str:
        try:
            return venue_symbol(symbol, config.market, self.name)
        except ValueError as exc:
            raise BrokerRejected("unsupported_symbol", f"{self.name}: {exc}") from None

    # -- exchanges, calls, errors, retries ---------------------------------------

    async def _ready(self, account: Account) -> tuple[ExchangeConfig, Any]:
        """The account's config and its exchange with markets loaded."""
        config = account.exchange
        if config is None or account.broker != self.name:
            raise BrokerRejected("not_configured",
                                 f"account {account.id} has no {self.name} settings")
        exchange = self._exchanges.get(config)
        if exchange is None:
            exchange = self._build(config)
            self._exchanges[config] = exchange
        if not exchange.markets:
            await self._retried("load markets", lambda: exchange.load_markets())
        return config, exchange

    def _build(self, config: ExchangeConfig) -> Any:
        cls = getattr(ccxt_async, self.venue.ccxt_class)
        exchange = cls({
            "apiKey": config.api_key, "secret": config.secret,
            "password": config.password or None, "accountId": config.account_id or None,
            "timeout": int(self.timeout * 1000), "enableRateLimit": self.rate_limit,
            "options": self.venue.options(config.market),
        })
        # ccxt's own decoder drops leading zero bytes: an Orderly key whose ed25519 seed
        # starts with 0x00 (1 in 256) came out 31 bytes long and could not sign.
        exchange.base58_to_binary = base58_to_bytes
        if config.account_id:
            exchange.accountId = config.account_id
        if config.testnet:
            exchange.set_sandbox_mode(True)
        if config.url_override:
            exchange.urls["api"] = overridden_urls(exchange.urls["api"], config.url_override)
        return exchange

    async def _once(self, call: Callable[[], Awaitable[T]]) -> T:
        """One venue call, its failure sorted into transient / not found / refusal."""
        try:
            return await call()
        except ccxt_errors.OrderNotFound as exc:
            raise _NotFound(_short(exc)) from None
        except ccxt_errors.OperationFailed as exc:
            # Timeouts, 429, 5xx, dropped connections, and the venue's "unknown error,
            # try again": the outcome is unknown, so retry (a submit looks up first).
            raise _Transient(f"{type(exc).__name__}: {_short(exc)}") from None
        except ccxt_errors.BaseError as exc:
            raise BrokerRejected(f"{self.name}_{_code(exc)}", _short(exc)) from None

    async def _retried(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` until it succeeds, refuses, or transient failures run out."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.base_wait, max=self.max_wait)
            + wait_random(0, self.base_wait),
            retry=retry_if_exception_type(_Transient), reraise=True,
            before_sleep=lambda state: _log_retry(self.name, what, self.attempts, state))
        try:
            async for try_ in retrying:
                with try_:
                    return await self._once(attempt)
        except _NotFound as exc:
            raise BrokerRejected(f"{self.name}_not_found", str(exc)) from None
        except _Transient as exc:
            raise BrokerUnavailable(
                f"{self.name} {what}: {exc} (gave up after {self.attempts} attempts)") from None
        raise AssertionError("unreachable: tenacity reraises the last failure")


class _NotFound(Exception):
    """The venue knows no such order."""


def _code(exc: Exception) -> str:
    """A refusal's code from ccxt's error class: InsufficientFunds -> insufficient_funds."""
    name = type(exc).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _short(exc: Exception) -> str:
    """ccxt's message (``<venue> {json}``), cut short; it never holds the keys."""
    return str(exc)[:300]


def _log_retry(venue: str, what: str, attempts: int, state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome else None
    log.warning("%s %s failed (%s); attempt %d/%d, retrying in %.2fs", venue, what, failure,
                state.attempt_number, attempts, state.upcoming_sleep)
