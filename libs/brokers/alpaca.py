"""Alpaca adapter: alpaca-py's TradingClient behind the Broker protocol.

alpaca-py is synchronous (requests), so every call runs in a worker thread with a
timeout. Its built-in 429/504 retry (3 tries, 3 s sleeps) is switched off: transient
failures (timeouts, lost connections, 429, 5xx) are retried here with exponential
backoff and jitter, and every attempt of a submit first looks the order up by our
``client_order_id``, so an order Alpaca accepted while its answer was lost is found
instead of placed twice. Refusals (4xx) are never retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, OrderSide, PositionSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order, Position, TradeAccount
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
)
from alpaca.trading.requests import OrderRequest as AlpacaOrderRequest
from requests import PreparedRequest, RequestException, Response
from requests.adapters import HTTPAdapter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from contracts.orders import BrokerOrder, Fill, OrderRequest, OrderStatus, Side
from contracts.signals import AssetClass, OrderType
from domain.symbols import CRYPTO_QUOTES, classify_symbol
from libs.brokers.base import AccountSnapshot, BrokerRejected, BrokerUnavailable
from libs.brokers.capabilities import ALPACA, Capabilities
from libs.registry.models import Account, AlpacaConfig
from libs.runtime.clock import Clock

log = logging.getLogger(__name__)
CLOSING_SUFFIX = "-close"
T = TypeVar("T")
ZERO = Decimal(0)

_STATUS: dict[str, OrderStatus] = {
    "filled": "filled",
    "canceled": "canceled", "done_for_day": "canceled", "replaced": "canceled",
    "expired": "expired",
    "rejected": "rejected",
}  # everything else (new, accepted, pending_*, partially_filled, held, ...) is open
_ORDER_TYPE: dict[str, OrderType] = {"market": "market", "limit": "limit"}  # rest: stops


class _Transient(Exception):
    """A failure worth retrying: no answer, 429 or 5xx."""


class _NotFound(Exception):
    """Alpaca answered 404."""


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request a timeout: alpaca-py passes none, so requests would wait forever."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request: PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None,
             proxies: dict[str, str] | None = None) -> Response:
        return super().send(request, stream=stream, verify=verify, cert=cert, proxies=proxies,
                            timeout=self.timeout if timeout is None else timeout)


class AlpacaBroker:
    """Orders on Alpaca (paper by default), one cached TradingClient per account config."""

    name = "alpaca"
    capabilities: Capabilities = ALPACA
    keeps_legs_with_position = False
    fills_report_position = False

    def __init__(self, clock: Clock, *, timeout: float = 5.0, attempts: int = 4,
                 base_wait: float = 0.5, max_wait: float = 8.0) -> None:
        self.clock = clock
        self.timeout = timeout
        self.attempts = attempts
        self.base_wait = base_wait
        self.max_wait = max_wait
        self._clients: dict[AlpacaConfig, TradingClient] = {}

    # -- Broker protocol ------------------------------------------------------

    async def snapshot(self, account: Account) -> AccountSnapshot:
        """Cash and equity of the Alpaca account; positions signed (short < 0)."""
        client = self._client(account)
        state = await self._retried("get account", lambda: self._once(client.get_account))
        held = await self._retried("get positions", lambda: self._once(client.get_all_positions))
        assert isinstance(state, TradeAccount) and isinstance(held, list)
        positions: dict[str, Decimal] = {}
        prices: dict[str, Decimal] = {}
        for position in held:
            symbol = _position_symbol(position)
            positions[symbol] = _signed_quantity(position)
            if position.current_price is not None:
                prices[symbol] = Decimal(position.current_price)
        return AccountSnapshot(cash=_decimal(state.cash) or ZERO,
                               equity=_decimal(state.equity) or ZERO,
                               positions=positions, last_prices=prices)

    async def find_order(self, account: Account, client_order_id: str,
                         symbol: str | None = None) -> BrokerOrder | None:
        """The order placed with ``client_order_id``, None if Alpaca has none (Alpaca
        looks orders up by client id alone: ``symbol`` is not needed)."""
        client = self._client(account)
        found = await self._retried(f"find {client_order_id}",
                                    lambda: self._lookup(client, client_order_id))
        if found is None:
            return None
        return await self._with_closing_part(client, self._broker_order(found))

    async def submit(self, account: Account, order: OrderRequest) -> BrokerOrder:
        """Place ``order`` once; a repeat (or a retry after a lost answer) returns it."""
        client = self._client(account)
        asset = classify_symbol(order.symbol)
        can = self.capabilities  # the validator refused these already; a sweep was not
        if asset != "unknown" and asset not in can.asset_classes:
            raise BrokerRejected("unsupported_asset",
                                 f"Alpaca does not trade {asset} ({order.symbol})")
        short_entry = order.intent == "enter_short" or (_flips(order) and order.side == "sell")
        if short_entry and asset != "unknown" and asset not in can.shorting:
            raise BrokerRejected("no_crypto_shorts" if asset == "crypto" else "no_shorts",
                                 f"Alpaca cannot short {asset} ({order.symbol})")
        placed = await self._retried(f"submit {order.client_order_id}",
                                     lambda: self._place(client, order, asset))
        return await self._with_closing_part(client, placed) if _flips(order) else placed

    async def _with_closing_part(self, client: TradingClient, main: BrokerOrder) -> BrokerOrder:
        """A flip is two Alpaca orders (``<id>-close`` then ``<id>``); report them as one
        so the fill event carries the whole quantity traded."""
        if main.client_order_id.endswith(CLOSING_SUFFIX):
            return main
        closing_id = main.client_order_id + CLOSING_SUFFIX
        found = await self._retried(f"find {closing_id}", lambda: self._lookup(client, closing_id))
        if found is None:
            return main
        return combine_flip(self._broker_order(found), main)

    async def cancel_order(self, account: Account, client_order_id: str,
                           reason: str = "canceled") -> BrokerOrder | None:
        """Cancel the order if it is still open; returns it as Alpaca now knows it."""
        client = self._client(account)
        found = await self._retried(f"find {client_order_id}",
                                    lambda: self._lookup(client, client_order_id))
        if found is None:
            return None
        order_id = found.id
        if self._broker_order(found).status == "open":
            try:
                await self._retried(f"cancel {client_order_id}",
                                    lambda: self._once(client.cancel_order_by_id, order_id))
            except BrokerRejected:  # e.g. 422 not cancelable: it filled meanwhile
                log.info("alpaca: cancel of %s refused; re-reading it", client_order_id)
        current = await self._retried(f"get {client_order_id}",
                                      lambda: self._once(client.get_order_by_id, order_id))
        assert isinstance(current, Order)
        return self._broker_order(current)

    async def resize_order(self, account: Account, client_order_id: str, quantity: Decimal,
                           reason: str) -> BrokerOrder | None:
        """Alpaca replaces an order under a new order id, which would break our
        ``client_order_id`` bookkeeping: a leg larger than the position is cancelled."""
        return await self.cancel_order(account, client_order_id, reason)

    async def open_orders(self, account: Account) -> list[BrokerOrder]:
        """Every order still resting at Alpaca (bracket legs listed on their own)."""
        client = self._client(account)
        query = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500)
        orders = await self._retried("list open orders",
                                     lambda: self._once(client.get_orders, query))
        assert isinstance(orders, list)
        return [self._broker_order(order) for order in orders]

    # -- placing ----------------------------------------------------------------

    async def _place(self, client: TradingClient, order: OrderRequest,
                     asset: AssetClass) -> BrokerOrder:
        """One attempt: find the order, else build and send it."""
        existing = await self._lookup(client, order.client_order_id)
        if existing is not None:
            return self._broker_order(existing)
        if _flips(order):
            # Alpaca cannot cross zero in one order: close first under its own id.
            closing = msgspec.structs.replace(
                order, client_order_id=order.client_order_id + CLOSING_SUFFIX,
                quantity=order.close_quantity, close_quantity=ZERO, notional=None,
                take_profit_price=None, stop_loss_price=None)
            await self._place(client, closing, asset)
            order = msgspec.structs.replace(
                order, quantity=order.quantity - order.close_quantity, close_quantity=ZERO,
                notional=None)
        request = await self._alpaca_request(client, order, asset)
        try:
            placed = await self._once(client.submit_order, request)
        except BrokerRejected as refusal:
            if "client_order_id" not in refusal.reason:  # "client_order_id must be unique"
                raise
            found = await self._lookup(client, order.client_order_id)
            if found is None:
                raise
            placed = found
        assert isinstance(placed, Order)
        log.info("alpaca: %s %s %s %s -> %s", order.client_order_id, order.side, order.symbol,
                 placed.qty or placed.notional, placed.status.value)
        return self._broker_order(placed)

    async def _alpaca_request(self, client: TradingClient, order: OrderRequest,
                              asset: AssetClass) -> AlpacaOrderRequest:
        crypto = asset == "crypto"
        side, quantity = order.side, order.quantity
        if order.close_position:
            held = await self._held(client, order.symbol, crypto)
            if held == 0:
                raise BrokerRejected("no_position", f"no open position in {order.symbol} to close")
            side, quantity = ("sell" if held > 0 else "buy"), abs(held)
            order = msgspec.structs.replace(order, order_type="market", notional=None,
                                            take_profit_price=None, stop_loss_price=None)
        elif order.reduce_only or order.leg:
            # Partial exits and protective legs only ever reduce the position held.
            held = await self._held(client, order.symbol, crypto)
            if held == 0 or (held > 0) != (side == "sell"):
                wanted = "long" if side == "sell" else "short"
                what = "protect" if order.leg else "reduce"
                raise BrokerRejected("no_position",
                                     f"no {wanted} position in {order.symbol} to {what}")
            quantity = min(quantity, abs(held))
        elif crypto and side == "sell":
            held = await self._held(client, order.symbol, crypto)
            if held <= 0 or (order.notional is None and quantity > held):
                raise BrokerRejected("no_crypto_shorts", f"Alpaca cannot short crypto: selling "
                                     f"{quantity} {order.symbol} with {held} held")
        return alpaca_order_request(order, crypto, side, quantity)

    async def _held(self, client: TradingClient, symbol: str, crypto: bool) -> Decimal:
        """Signed position in ``symbol`` (0 when flat); crypto is looked up as BTCUSD."""
        try:
            position = await self._once(client.get_open_position,
                                        symbol.replace("/", "") if crypto else symbol)
        except _NotFound:
            return ZERO
        assert isinstance(position, Position)
        return _signed_quantity(position)

    # -- calls, errors, retries -------------------------------------------------

    def _client(self, account: Account) -> TradingClient:
        config = account.alpaca
        if config is None:
            raise BrokerRejected("not_configured", f"account {account.id} has no Alpaca keys")
        client = self._clients.get(config)
        if client is None:
            client = TradingClient(api_key=config.key_id, secret_key=config.secret_key,
                                   paper=config.paper, url_override=config.url_override)
            client._retry = 0  # no built-in 429/504 retry with 3 s sleeps: ours applies
            client._retry_codes = []
            adapter = _TimeoutAdapter(self.timeout)
            client._session.mount("http://", adapter)
            client._session.mount("https://", adapter)
            self._clients[config] = client
        return client

    async def _lookup(self, client: TradingClient, client_order_id: str) -> Order | None:
        try:
            found = await self._once(client.get_order_by_client_id, client_order_id)
        except _NotFound:
            return None
        assert isinstance(found, Order)
        return found

    async def _once(self, call: Callable[..., T], *args: Any) -> T:
        """One HTTP call in a thread, its failure sorted into transient / 404 / refusal."""
        try:
            return await asyncio.to_thread(call, *args)
        except RequestException as exc:  # timeout, refused or dropped connection
            raise _Transient(type(exc).__name__) from None
        except APIError as exc:
            status = exc.status_code
            message = _message(exc)
            if status is None or status == 429 or status >= 500:
                raise _Transient(f"HTTP {status}: {message}") from None
            if status == 404:
                raise _NotFound(message) from None
            raise BrokerRejected(f"alpaca_{status}", message) from None

    async def _retried(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` until it succeeds, refuses, or transient failures run out."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.base_wait, max=self.max_wait)
            + wait_random(0, self.base_wait),
            retry=retry_if_exception_type(_Transient), reraise=True,
            before_sleep=lambda state: _log_retry(what, self.attempts, state))
        try:
            async for try_ in retrying:
                with try_:
                    return await attempt()
        except _NotFound as exc:
            raise BrokerRejected("alpaca_404", str(exc)) from None
        except _Transient as exc:
            raise BrokerUnavailable(
                f"alpaca {what}: {exc} (gave up after {self.attempts} attempts)") from None
        raise AssertionError("unreachable: tenacity reraises the last failure")

    def _broker_order(self, order: Order) -> BrokerOrder:
        if order.order_class == OrderClass.OCO:
            return self._oco_order(order)
        return self._simple_order(order)

    def _oco_order(self, order: Order) -> BrokerOrder:
        """An OCO pair as one order: filled by whichever leg filled (``tp`` is the
        parent limit, ``sl`` its stop leg), open while the pair rests."""
        parent = self._simple_order(order)
        if parent.status == "filled":
            return msgspec.structs.replace(parent, leg="tp")
        for child in order.legs or []:
            leg = self._simple_order(child)
            if leg.status == "filled" and leg.fill is not None:
                fill = msgspec.structs.replace(leg.fill, client_order_id=parent.client_order_id)
                return msgspec.structs.replace(parent, leg="sl", status="filled", fill=fill,
                                               reason="")
        return msgspec.structs.replace(parent, leg="tp" if parent.status == "open" else "")

    def _simple_order(self, order: Order) -> BrokerOrder:
        status = _STATUS.get(order.status.value, "open")
        side: Side = "sell" if order.side == OrderSide.SELL else "buy"
        kind = order.type or order.order_type
        order_type = _ORDER_TYPE.get(kind.value, "stop") if kind is not None else "market"
        quantity = _decimal(order.qty) or _decimal(order.filled_qty) or ZERO
        filled = _decimal(order.filled_qty) or ZERO
        average = _decimal(order.filled_avg_price)
        reason = "" if status in ("open", "filled") else f"alpaca status {order.status.value}"
        if status in ("canceled", "expired") and filled > 0:
            # Ended after a partial fill: what filled is a trade (a position exists).
            reason = f"filled {filled.normalize():f} of {quantity.normalize():f}; " \
                     f"the rest was {order.status.value}"
            status = "filled"
        fill = None
        if status == "filled":
            fill = Fill(order_id=str(order.id), client_order_id=order.client_order_id,
                        symbol=_order_symbol(order), side=side,
                        quantity=filled or quantity, average_price=average or ZERO,
                        fee=ZERO, filled_at=order.filled_at or order.updated_at
                        or self.clock.now())
        return BrokerOrder(
            order_id=str(order.id), client_order_id=order.client_order_id,
            symbol=_order_symbol(order), side=side, quantity=quantity, order_type=order_type,
            status=status, submitted_at=order.submitted_at,
            limit_price=_decimal(order.limit_price), stop_price=_decimal(order.stop_price),
            notional=_decimal(order.notional), reason=reason, fill=fill,
            filled_quantity=filled if fill is None else fill.quantity,
            average_fill_price=average)


def alpaca_order_request(order: OrderRequest, crypto: bool, side: Side,
                         quantity: Decimal) -> AlpacaOrderRequest:
    """alpaca-py's request for ``order``, applying Alpaca's rules on sizes and durations.

    Crypto is GTC (or IOC) and simple only; notional and fractional equity orders are
    simple DAY market orders; both protective prices make a bracket, one an OTO.
    """
    notional = order.notional if order.order_type == "market" else None
    if notional is None and quantity <= 0:
        raise BrokerRejected("bad_quantity", f"order quantity must be positive, got {quantity}")
    fractional = not crypto and (notional is not None or quantity != quantity.to_integral_value())
    time_in_force = order.time_in_force
    if crypto and time_in_force == "day":
        time_in_force = "gtc"
    if fractional:
        if order.order_type != "market":
            raise BrokerRejected("fractional_not_market", "Alpaca takes fractional equity "
                                 f"orders as market orders only ({quantity} {order.symbol})")
        time_in_force = "day"
    fields: dict[str, Any] = {
        "symbol": order.symbol, "side": OrderSide(side), "client_order_id": order.client_order_id,
        "time_in_force": TimeInForce(time_in_force),
        **({"qty": quantity} if notional is None else {"notional": notional}),
        **_legs(order, "crypto" if crypto else "fractional" if fractional else None),
    }
    if order.order_type == "limit":
        return LimitOrderRequest(limit_price=_required(order.limit_price, "limit", order), **fields)
    if order.order_type == "stop":
        return StopOrderRequest(stop_price=_required(order.stop_price, "stop", order), **fields)
    return MarketOrderRequest(**fields)


def combine_flip(closing: BrokerOrder, opening: BrokerOrder) -> BrokerOrder:
    """One order view of a flip's two Alpaca orders.

    Filled when both filled (one fill: total quantity, volume-weighted price); open
    while either rests; if the opening part ended unfilled after the close filled,
    the close is what happened, so it is reported as the fill with the reason.
    """
    both = closing.fill is not None and opening.fill is not None
    if both and closing.fill is not None and opening.fill is not None:
        quantity = closing.fill.quantity + opening.fill.quantity
        price = (closing.fill.quantity * closing.fill.average_price
                 + opening.fill.quantity * opening.fill.average_price) / quantity
        fill = msgspec.structs.replace(opening.fill, quantity=quantity, average_price=price,
                                       fee=closing.fill.fee + opening.fill.fee)
        return msgspec.structs.replace(opening, quantity=quantity, status="filled", fill=fill,
                                       close_quantity=closing.fill.quantity)
    if "open" in (closing.status, opening.status):
        return msgspec.structs.replace(opening, status="open", fill=None)
    if closing.fill is not None:
        return msgspec.structs.replace(
            closing, client_order_id=opening.client_order_id,
            reason=f"only the closing part filled; the opening order was {opening.status}")
    return opening


def _flips(order: OrderRequest) -> bool:
    """Part of the order closes a position and the rest opens the other side."""
    return 0 < order.close_quantity < order.quantity and not order.close_position


def _legs(order: OrderRequest, simple_only: str | None) -> dict[str, Any]:
    take_profit, stop_loss = order.take_profit_price, order.stop_loss_price
    if take_profit is None and stop_loss is None:
        return {}
    if simple_only:
        log.info("alpaca: %s is a %s order, which Alpaca takes as a simple order only; "
                 "sending it without its stop-loss/take-profit legs", order.client_order_id,
                 simple_only)
        return {}
    if order.leg and take_profit and stop_loss:
        # Protective legs after a fill: one OCO order (the take-profit limit with the
        # stop-loss as its other leg); Alpaca cancels one when the other fills.
        kind = OrderClass.OCO
    else:
        kind = OrderClass.BRACKET if take_profit and stop_loss else OrderClass.OTO
    legs: dict[str, Any] = {"order_class": kind}
    if take_profit is not None:
        legs["take_profit"] = TakeProfitRequest(limit_price=float(take_profit))
    if stop_loss is not None:
        legs["stop_loss"] = StopLossRequest(stop_price=float(stop_loss))
    return legs


def _required(price: Decimal | None, kind: str, order: OrderRequest) -> Decimal:
    if price is None or price <= 0:
        raise BrokerRejected("missing_price", f"{kind} order {order.client_order_id} has no "
                             f"{kind} price")
    return price


def _log_retry(what: str, attempts: int, state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome else None
    log.warning("alpaca %s failed (%s); attempt %d/%d, retrying in %.2fs", what, failure,
                state.attempt_number, attempts, state.upcoming_sleep)


def _message(exc: APIError) -> str:
    """Alpaca's own message from the JSON body, else the body itself (short)."""
    try:
        return str(json.loads(str(exc))["message"])
    except (ValueError, KeyError, TypeError):
        return str(exc)[:200]


def _decimal(value: str | float | None) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def _signed_quantity(position: Position) -> Decimal:
    quantity = abs(Decimal(position.qty))
    return -quantity if position.side == PositionSide.SHORT else quantity


def _crypto_pair(symbol: str) -> str:
    """``BTCUSD`` (Alpaca's position spelling) as ``BTC/USD``, our spelling."""
    if "/" in symbol:
        return symbol
    for quote in CRYPTO_QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return f"{symbol[: -len(quote)]}/{quote}"
    return symbol


def _position_symbol(position: Position) -> str:
    crypto = position.asset_class is not None and position.asset_class.value == "crypto"
    return _crypto_pair(position.symbol) if crypto else position.symbol


def _order_symbol(order: Order) -> str:
    symbol = order.symbol or ""
    crypto = order.asset_class is not None and order.asset_class.value == "crypto"
    return _crypto_pair(symbol) if crypto else symbol
