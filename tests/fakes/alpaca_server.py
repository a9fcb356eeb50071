"""A fake Alpaca trading API (REST v2) on 127.0.0.1, good enough for alpaca-py 0.44.

It keeps cash, positions and orders; market orders fill at once at the price set
with ``set_price``, limit and stop orders rest until a price crosses them. It applies
the Alpaca rules the adapter must respect (unique client order ids, no crypto
shorts, crypto orders simple and GTC/IOC, fractional orders simple DAY market, no
flip from long to short in one order) and can be told to fail the next requests
(``fail_next``) in the ways a real network fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import unquote
from uuid import NAMESPACE_URL, uuid4, uuid5

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPEN = ("new", "accepted", "pending_new", "partially_filled", "held", "accepted_for_bidding")
QTY_STEP = Decimal("0.000000001")
FAKE_KEY_ID = "PKFAKEKEY"
FAKE_SECRET_KEY = "fake-secret"
FAULT_KINDS = ("timeout", "accept_then_timeout", "accept_then_drop", "reject422", "reject403")


@dataclass
class Fault:
    target: str  # "POST /v2/orders" or just "/v2/orders" (any method)
    kind: str  # a FAULT_KINDS name or an HTTP status such as "429", "500", "503"
    times: int
    message: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return self.target in (path, f"{method} {path}")


@dataclass
class ChanceFaults:
    """Fail a seeded-random fraction of the requests to targets starting with ``prefix``."""

    kinds: Sequence[str]
    probability: float
    rng: random.Random
    prefix: str = ""

    def draw(self, method: str, path: str) -> Fault | None:
        if not f"{method} {path}".startswith(self.prefix) and not path.startswith(self.prefix):
            return None
        if self.rng.random() >= self.probability:
            return None
        return Fault(f"{method} {path}", self.rng.choice(list(self.kinds)), 1)


class AlpacaError(Exception):
    """An Alpaca error answer: HTTP status plus ``{"code", "message"}``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def text(value: Decimal | None) -> str | None:
    """Alpaca sends numbers as strings."""
    return None if value is None else format(value.normalize(), "f")


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def is_crypto(symbol: str) -> bool:
    return "/" in symbol


class FakeAlpaca:
    """The fake server; ``url`` is the base without ``/v2`` (alpaca-py's url_override)."""

    def __init__(self, key_id: str = FAKE_KEY_ID, secret_key: str = FAKE_SECRET_KEY,
                 cash: Decimal = Decimal(100_000), hang_seconds: float = 2.0) -> None:
        self.key_id, self.secret_key = key_id, secret_key
        self.cash = cash
        self.hang_seconds = hang_seconds
        self.prices: dict[str, Decimal] = {}
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (signed qty, avg)
        self.orders: dict[str, dict[str, Any]] = {}  # by id, in submission order
        self.by_client_id: dict[str, str] = {}
        self.parent_of: dict[str, str] = {}  # leg id -> parent id
        self.faults: list[Fault] = []
        self.chance: ChanceFaults | None = None
        self.injected: list[tuple[str, str]] = []  # ("METHOD /path", kind) of every fault
        self.requests: list[str] = []  # "METHOD /path" of every request received
        self.order_requests: list[dict[str, Any]] = []  # bodies of POST /v2/orders
        self.submitted_client_order_ids: list[str] = []  # every order created
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._stopping = asyncio.Event()

    # -- control --------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/v2/account", self._account)
        app.router.add_get("/v2/clock", self._clock)
        app.router.add_post("/v2/orders", self._submit)
        app.router.add_get("/v2/orders", self._list_orders)
        app.router.add_get("/v2/orders:by_client_order_id", self._order_by_client_id)
        app.router.add_get("/v2/orders/{id}", self._order)
        app.router.add_delete("/v2/orders/{id}", self._cancel)
        app.router.add_get("/v2/positions", self._positions)
        app.router.add_get("/v2/positions/{symbol:.+}", self._position)
        app.router.add_delete("/v2/positions/{symbol:.+}", self._close_position)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def set_price(self, symbol: str, price: Decimal | str | int) -> None:
        """The market price of ``symbol``; resting orders it crosses fill at it."""
        self.prices[symbol] = Decimal(price)
        for order in list(self.orders.values()):
            if order["symbol"] == symbol and order["status"] in ("new", "partially_filled") \
                    and self._crosses(order):
                self._fill(order)

    def fill_partially(self, client_order_id: str, quantity: Decimal | str | int,
                       price: Decimal | str | int | None = None) -> None:
        """Fill ``quantity`` of a resting order (at ``price``, else the market's); it
        stays open as ``partially_filled`` until the rest fills or it is cancelled."""
        order = self.order_by_client_id(client_order_id)
        if order is None or order["status"] not in ("new", "partially_filled"):
            raise ValueError(f"no resting order {client_order_id!r}")
        done = decimal(order["filled_qty"]) or Decimal(0)
        amount = Decimal(quantity)
        if not 0 < amount < (decimal(order["qty"]) or Decimal(0)) - done:
            raise ValueError("a partial fill leaves part of the order open")
        self._trade(order, amount, Decimal(price) if price is not None else
                    self.price(order["symbol"]))
        self._set_status(order, "partially_filled")

    def set_position(self, symbol: str, quantity: Decimal | str | int,
                     average_price: Decimal | str | int | None = None) -> None:
        """Seed a position (signed quantity), as if bought earlier."""
        price = Decimal(average_price) if average_price is not None else self.price(symbol)
        self.positions[symbol] = (Decimal(quantity), price)

    def fail_next(self, target: str, kind: str, times: int = 1,
                  message: str | None = None) -> None:
        """Make the next ``times`` requests to ``target`` fail.

        ``target`` is ``"POST /v2/orders"`` or a path alone (any method). ``kind``:
        an HTTP status ("429", "500", "503", ...) answered without doing anything;
        "reject422"/"reject403" an order refusal with ``message``; "timeout" no answer
        for ``hang_seconds`` (nothing done); "accept_then_timeout" do it, then no
        answer; "accept_then_drop" do it, then close the connection unanswered.
        """
        if kind not in FAULT_KINDS and not kind.isdigit():
            raise ValueError(f"unknown fault kind {kind!r}")
        self.faults.append(Fault(target, kind, times, message))

    def fail_randomly(self, kinds: Sequence[str], probability: float, seed: int,
                      prefix: str = "") -> None:
        """From now on fail each request whose ``"METHOD /path"`` (or path) starts
        with ``prefix`` with ``probability``, in a kind drawn from ``kinds`` (as in
        ``fail_next``). Seeded: the n-th matching request always meets the same fate.
        ``fail_next`` faults go first. ``probability=0`` switches it off."""
        for kind in kinds:
            if kind not in FAULT_KINDS and not kind.isdigit():
                raise ValueError(f"unknown fault kind {kind!r}")
        self.chance = ChanceFaults(kinds, probability, random.Random(seed), prefix) \
            if probability > 0 else None

    def price(self, symbol: str) -> Decimal:
        return self.prices.get(symbol, Decimal(100))

    def order_by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        order_id = self.by_client_id.get(client_order_id)
        return None if order_id is None else self.orders[order_id]

    def count(self, request: str) -> int:
        """How many requests ``"METHOD /path"`` the server received."""
        return self.requests.count(request)

    # -- middleware: log, authenticate, inject faults ---------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path}")
        key = request.headers.get("APCA-API-KEY-ID")
        secret = request.headers.get("APCA-API-SECRET-KEY")
        if not key or not secret:
            return error(401, 40110000, "request is not authorized")
        if key != self.key_id or secret != self.secret_key:
            return error(403, 40310000, "forbidden")
        fault = self._take_fault(request.method, request.path)
        if fault is None:
            return await self._answer(request, handler)
        if fault.kind.isdigit():
            return error(int(fault.kind), int(fault.kind) * 100_000,
                         fault.message or f"fake failure {fault.kind}")
        if fault.kind == "reject422":
            return error(422, 42210000, fault.message or "order refused")
        if fault.kind == "reject403":
            return error(403, 40310000, fault.message or "forbidden")
        if fault.kind == "timeout":
            await self._hang()
            return error(504, 50400000, "answer nobody waits for")
        response = await self._answer(request, handler)
        if fault.kind == "accept_then_timeout":
            await self._hang()
            return response
        # accept_then_drop: the order exists, the client never hears of it.
        assert request.transport is not None
        request.transport.abort()
        raise asyncio.CancelledError

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except AlpacaError as exc:
            return error(exc.status, exc.code, exc.message)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        taken = self._queued_fault(method, path) or (
            self.chance.draw(method, path) if self.chance is not None else None)
        if taken is not None:
            self.injected.append((f"{method} {path}", taken.kind))
        return taken

    def _queued_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def _hang(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.hang_seconds)

    # -- account, clock, positions ---------------------------------------------

    async def _account(self, request: web.Request) -> web.Response:
        long_value = sum((q * self.price(s) for s, (q, _) in self.positions.items() if q > 0),
                         Decimal(0))
        short_value = sum((q * self.price(s) for s, (q, _) in self.positions.items() if q < 0),
                          Decimal(0))
        equity = self.cash + long_value + short_value
        return web.json_response({
            "id": str(uuid5(NAMESPACE_URL, self.key_id)), "account_number": "PA3FAKE0001",
            "status": "ACTIVE", "crypto_status": "ACTIVE", "currency": "USD",
            "cash": text(self.cash), "equity": text(equity), "last_equity": text(equity),
            "portfolio_value": text(equity), "buying_power": text(max(self.cash, Decimal(0))),
            "long_market_value": text(long_value), "short_market_value": text(short_value),
            "multiplier": "1", "pattern_day_trader": False, "trading_blocked": False,
            "transfers_blocked": False, "account_blocked": False, "shorting_enabled": True,
            "created_at": "2024-01-02T15:00:00Z",
        })

    async def _clock(self, request: web.Request) -> web.Response:
        moment = datetime.now(UTC)
        return web.json_response({
            "timestamp": moment.isoformat(), "is_open": True,
            "next_open": (moment + timedelta(days=1)).isoformat(),
            "next_close": (moment + timedelta(hours=1)).isoformat(),
        })

    async def _positions(self, request: web.Request) -> web.Response:
        return web.json_response([self._position_json(s) for s, (q, _) in
                                  self.positions.items() if q != 0])

    async def _position(self, request: web.Request) -> web.Response:
        return web.json_response(self._position_json(self._held_symbol(request)))

    async def _close_position(self, request: web.Request) -> web.Response:
        symbol = self._held_symbol(request)
        quantity = self.positions[symbol][0]
        order = self._create({
            "symbol": symbol, "qty": str(abs(quantity)), "type": "market",
            "side": "sell" if quantity > 0 else "buy",
            "time_in_force": "gtc" if is_crypto(symbol) else "day",
        })
        return web.json_response(self._order_json(order))

    def _held_symbol(self, request: web.Request) -> str:
        """The position named in the path: ``BTCUSD``, ``BTC/USD`` or ``BTC%2FUSD``."""
        wanted = unquote(request.match_info["symbol"]).replace("/", "").upper()
        for symbol, (quantity, _) in self.positions.items():
            if symbol.replace("/", "") == wanted and quantity != 0:
                return symbol
        raise AlpacaError(404, 40410000, "position does not exist")

    def _position_json(self, symbol: str) -> dict[str, Any]:
        quantity, average = self.positions[symbol]
        price = self.price(symbol)
        crypto = is_crypto(symbol)
        return {
            "asset_id": str(uuid5(NAMESPACE_URL, symbol)),
            "symbol": symbol.replace("/", "") if crypto else symbol,  # Alpaca: BTCUSD
            "exchange": "CRYPTO" if crypto else "NASDAQ",
            "asset_class": "crypto" if crypto else "us_equity",
            "asset_marginable": not crypto, "avg_entry_price": text(average),
            "qty": text(quantity), "qty_available": text(quantity),
            "side": "long" if quantity > 0 else "short",
            "market_value": text(quantity * price), "cost_basis": text(quantity * average),
            "unrealized_pl": text(quantity * (price - average)), "current_price": text(price),
            "lastday_price": text(price), "change_today": "0",
        }

    # -- orders ----------------------------------------------------------------

    async def _submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.order_requests.append(body)
        order = self._create(body)
        return web.json_response(self._order_json(order, nested=True))

    async def _list_orders(self, request: web.Request) -> web.Response:
        status = request.query.get("status", "open")
        nested = request.query.get("nested", "false").lower() == "true"
        symbols = set(filter(None, request.query.get("symbols", "").split(",")))
        limit = int(request.query.get("limit", "50"))
        chosen = [
            order for order in reversed(self.orders.values())
            if (status == "all" or (order["status"] in OPEN) == (status == "open"))
            and (not symbols or order["symbol"] in symbols)
            and not (nested and order["id"] in self.parent_of)
        ]
        return web.json_response([self._order_json(o, nested=nested) for o in chosen[:limit]])

    async def _order_by_client_id(self, request: web.Request) -> web.Response:
        client_order_id = request.query.get("client_order_id", "")
        order = self.order_by_client_id(client_order_id)
        if order is None:
            raise AlpacaError(404, 40410000, f"order not found for {client_order_id}")
        return web.json_response(self._order_json(order, nested=True))

    async def _order(self, request: web.Request) -> web.Response:
        return web.json_response(self._order_json(self._known(request), nested=True))

    async def _cancel(self, request: web.Request) -> web.Response:
        order = self._known(request)
        if order["status"] not in OPEN:
            raise AlpacaError(422, 42210000, f"order is already in \"{order['status']}\" state")
        self._set_status(order, "canceled")
        for leg in self._legs(order["id"]):  # cancelling a parent cancels its legs
            if leg["status"] in OPEN:
                self._set_status(leg, "canceled")
        return web.Response(status=204)

    def _known(self, request: web.Request) -> dict[str, Any]:
        order = self.orders.get(request.match_info["id"])
        if order is None:
            raise AlpacaError(404, 40410000, "order not found")
        return order

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate like Alpaca, record, and fill at once if it is a market order."""
        client_order_id = body.get("client_order_id") or str(uuid4())
        if client_order_id in self.by_client_id:
            raise AlpacaError(422, 40010001, "client_order_id must be unique")
        symbol, side, kind = body["symbol"], body["side"], body.get("type", "market")
        time_in_force = body["time_in_force"]
        order_class = body.get("order_class") or "simple"
        quantity = decimal(body.get("qty"))
        notional = decimal(body.get("notional"))
        if (quantity is None) == (notional is None):
            raise AlpacaError(422, 40010001, "qty or notional is required, not both")
        price = self.price(symbol)
        amount = quantity if quantity is not None else (notional or Decimal(0)) / price
        if is_crypto(symbol):
            if order_class != "simple":
                raise AlpacaError(422, 42210000,
                                  f"crypto orders not allowed for advanced order_class: "
                                  f"{order_class}")
            if time_in_force not in ("gtc", "ioc"):
                raise AlpacaError(422, 42210000, "invalid crypto time_in_force")
            held = self.positions.get(symbol, (Decimal(0), Decimal(0)))[0]
            if side == "sell" and amount > held:
                base = symbol.split("/")[0]
                raise AlpacaError(403, 40310000, f"insufficient balance for {base} "
                                  f"(requested: {text(amount)}, available: {text(held)})")
        else:
            fractional = notional is not None or amount != amount.to_integral_value()
            if fractional and (kind != "market" or time_in_force != "day"
                               or order_class != "simple"):
                raise AlpacaError(422, 42210000, "fractional orders must be simple DAY market "
                                  "orders")
            held = self.positions.get(symbol, (Decimal(0), Decimal(0)))[0]
            opposite = held if side == "sell" else -held
            if opposite > 0 and amount > opposite:
                raise AlpacaError(403, 40310000, f"insufficient qty available for order "
                                  f"(requested: {text(amount)}, available: {text(opposite)})")
        if order_class in ("bracket", "oco") and not (body.get("take_profit")
                                                      and body.get("stop_loss")):
            raise AlpacaError(422, 42210000,
                              f"{order_class} orders need take_profit and stop_loss")
        if order_class == "oco":
            return self._create_oco(client_order_id, body, symbol, side, quantity)
        if side == "buy" and kind == "market" and amount * price > self.cash:
            raise AlpacaError(403, 40310000, "insufficient buying power")
        order = self._record(client_order_id, symbol, side, kind, time_in_force, quantity,
                             notional, order_class, body.get("limit_price"),
                             body.get("stop_price"))
        for leg_kind, leg in (("limit", body.get("take_profit")), ("stop", body.get("stop_loss"))):
            if leg:
                leg_order = self._record(
                    str(uuid4()), symbol, "sell" if side == "buy" else "buy", leg_kind,
                    time_in_force, quantity, None, order_class, leg.get("limit_price"),
                    leg.get("stop_price") if leg_kind == "stop" else None, status="held")
                self.parent_of[leg_order["id"]] = order["id"]
        if kind == "market" or self._crosses(order):
            self._fill(order)
        return order

    def _create_oco(self, client_order_id: str, body: dict[str, Any], symbol: str, side: str,
                    quantity: Decimal | None) -> dict[str, Any]:
        """An OCO pair: the take-profit limit is the parent, the stop its leg; both
        rest at once and the first to fill cancels the other."""
        if body.get("type") != "limit":
            raise AlpacaError(422, 42210000, "oco orders must be limit orders")
        parent = self._record(client_order_id, symbol, side, "limit", body["time_in_force"],
                              quantity, None, "oco", body["take_profit"]["limit_price"], None)
        stop = self._record(str(uuid4()), symbol, side, "stop", body["time_in_force"],
                            quantity, None, "oco", None, body["stop_loss"]["stop_price"])
        self.parent_of[stop["id"]] = parent["id"]
        for order in (parent, stop):
            if order["status"] == "new" and self._crosses(order):
                self._fill(order)
                break
        return parent

    def _record(self, client_order_id: str, symbol: str, side: str, kind: str,
                time_in_force: str, quantity: Decimal | None, notional: Decimal | None,
                order_class: str, limit_price: Any, stop_price: Any,
                status: str = "new") -> dict[str, Any]:
        moment = now()
        order: dict[str, Any] = {
            "id": str(uuid4()), "client_order_id": client_order_id,
            "created_at": moment, "updated_at": moment, "submitted_at": moment,
            "filled_at": None, "expired_at": None, "canceled_at": None, "failed_at": None,
            "replaced_at": None, "replaced_by": None, "replaces": None,
            "asset_id": str(uuid5(NAMESPACE_URL, symbol)), "symbol": symbol,
            "asset_class": "crypto" if is_crypto(symbol) else "us_equity",
            "notional": text(notional), "qty": text(quantity), "filled_qty": "0",
            "filled_avg_price": None, "order_class": "" if order_class == "simple" else order_class,
            "order_type": kind, "type": kind, "side": side, "time_in_force": time_in_force,
            "limit_price": text(decimal(limit_price)), "stop_price": text(decimal(stop_price)),
            "status": status, "extended_hours": False, "legs": None,
        }
        self.orders[order["id"]] = order
        self.by_client_id[client_order_id] = order["id"]
        self.submitted_client_order_ids.append(client_order_id)
        return order

    def _crosses(self, order: dict[str, Any]) -> bool:
        price = self.price(order["symbol"])
        limit, stop = decimal(order["limit_price"]), decimal(order["stop_price"])
        buy = order["side"] == "buy"
        if order["type"] == "limit" and limit is not None:
            return price <= limit if buy else price >= limit
        if order["type"] == "stop" and stop is not None:
            return price >= stop if buy else price <= stop
        return False

    def _fill(self, order: dict[str, Any]) -> None:
        """Fill what is left of ``order`` at the market price."""
        price = self.price(order["symbol"])
        quantity = decimal(order["qty"])
        if quantity is None:
            quantity = (Decimal(order["notional"]) / price).quantize(QTY_STEP)
        self._trade(order, quantity - (decimal(order["filled_qty"]) or Decimal(0)), price)
        order.update(filled_at=now())
        self._set_status(order, "filled")
        oco = order["order_class"] == "oco"
        for leg in self._legs(order["id"]):
            # A bracket's legs wake up when the entry fills; an OCO's stop is cancelled.
            self._set_status(leg, "canceled" if oco else "new")
        parent = self.parent_of.get(order["id"])
        if parent is not None:  # one leg filled: the other is canceled (OCO)
            for sibling in self._legs(parent):
                if sibling["status"] in OPEN:
                    self._set_status(sibling, "canceled")
            if oco and self.orders[parent]["status"] in OPEN:
                self._set_status(self.orders[parent], "canceled")

    def _trade(self, order: dict[str, Any], quantity: Decimal, price: Decimal) -> None:
        """``quantity`` of ``order`` trades at ``price``: position, cash, filled part."""
        symbol = order["symbol"]
        signed = quantity if order["side"] == "buy" else -quantity
        held, average = self.positions.get(symbol, (Decimal(0), Decimal(0)))
        after = held + signed
        if held == 0 or ((held > 0) != (after > 0) and after != 0):
            average = price  # opened or flipped
        elif (held > 0) == (signed > 0):
            average = (held * average + signed * price) / after
        self.positions[symbol] = (after, average)
        self.cash -= signed * price
        done = decimal(order["filled_qty"]) or Decimal(0)
        paid = done * (decimal(order["filled_avg_price"]) or Decimal(0))
        order.update(filled_qty=text(done + quantity),
                     filled_avg_price=text((paid + quantity * price) / (done + quantity)))

    def _legs(self, parent_id: str) -> list[dict[str, Any]]:
        return [self.orders[i] for i, p in self.parent_of.items() if p == parent_id]

    def _set_status(self, order: dict[str, Any], status: str) -> None:
        order["status"] = status
        order["updated_at"] = now()
        if status == "canceled":
            order["canceled_at"] = order["updated_at"]

    def _order_json(self, order: dict[str, Any], nested: bool = False) -> dict[str, Any]:
        legs = self._legs(order["id"])
        return {**order, "legs": [dict(leg) for leg in legs] if nested and legs else None}


def decimal(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)
