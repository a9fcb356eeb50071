"""A fake Bybit (REST v5, unified trading account, USDT linear perpetuals) on
127.0.0.1, as ccxt's ``bybit`` class speaks it.

Private requests must carry ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP``,
``X-BAPI-RECV-WINDOW`` and ``X-BAPI-SIGN``: the HMAC-SHA256 (hex) of timestamp + key +
recv window + the query string (GET) or the JSON body (POST). It serves the linear
instruments, the wallet balance, positions, orders by ``orderLinkId`` (regular and
stop), open orders, leverage and margin mode. Market orders fill at ``set_price``;
limit and stop orders rest until the price crosses them. Faults as the Alpaca fake
(:mod:`fakes.venue_faults`).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from decimal import Decimal
from typing import Any

from aiohttp import web
from fakes.loopback import LoopbackServer
from fakes.venue_faults import Faults

FAKE_KEY = "bybit-fake-key"
FAKE_SECRET = "bybit-fake-secret"
STEP, TICK, MIN_QTY, MIN_NOTIONAL = Decimal("0.001"), Decimal("0.1"), Decimal("0.001"), \
    Decimal(5)
OPEN = ("New", "PartiallyFilled", "Untriggered")
BODY = web.RequestKey("body", dict)


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def error(status: int, message: str, code: int = 110007) -> web.Response:
    if status >= 500:
        return web.Response(status=status, text=f"<html>{status} {message}</html>",
                            content_type="text/html")
    if status == 429:
        return web.json_response({"retCode": 10006, "retMsg": "Too many visits!",
                                  "result": {}, "time": _now()}, status=429)
    return web.json_response({"retCode": code, "retMsg": message, "result": {},
                              "time": _now()}, status=200)


def ok(result: Any) -> web.Response:
    return web.json_response({"retCode": 0, "retMsg": "OK", "result": result,
                              "retExtInfo": {}, "time": _now()})


class BybitError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class FakeBybit:
    """One unified trading account: a USDT wallet and linear positions."""

    def __init__(self, key: str = FAKE_KEY, secret: str = FAKE_SECRET,
                 hang_seconds: float = 2.0) -> None:
        self.key, self.secret = key, secret
        self.faults = Faults(error, hang_seconds)
        self.prices: dict[str, Decimal] = {"BTCUSDT": Decimal(60000), "ETHUSDT": Decimal(3000)}
        self.wallet = Decimal(100_000)
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}
        self.leverage: dict[str, str] = {}
        self.margin_mode = "REGULAR_MARGIN"
        self.orders: dict[str, dict[str, Any]] = {}  # by orderLinkId
        self.created: list[dict[str, Any]] = []
        self._ids = itertools.count(7000)
        self._server = LoopbackServer()

    @property
    def url(self) -> str:
        return self._server.url

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        routes = app.router
        routes.add_get("/v5/market/instruments-info", self._instruments)
        routes.add_get("/v5/asset/coin/query-info", self._coins)
        routes.add_get("/v5/account/wallet-balance", self._wallet)
        routes.add_get("/v5/position/list", self._positions)
        routes.add_post("/v5/position/set-leverage", self._set_leverage)
        routes.add_post("/v5/account/set-margin-mode", self._set_margin_mode)
        routes.add_post("/v5/order/create", self._create)
        routes.add_get("/v5/order/realtime", self._realtime)
        routes.add_get("/v5/order/history", self._realtime)
        routes.add_post("/v5/order/cancel", self._cancel)
        await self._server.serve(app)

    async def stop(self) -> None:
        self.faults.stopping.set()
        await self._server.close()

    # -- control ------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal | str | int) -> None:
        """The mark price of ``symbol`` (``BTCUSDT``); resting orders it crosses fill."""
        self.prices[symbol] = Decimal(price)
        for order in list(self.orders.values()):
            if order["symbol"] == symbol and order["orderStatus"] in OPEN \
                    and self._crosses(order):
                self._fill(order)

    def placements(self, link_id: str) -> int:
        return sum(1 for body in self.created if body.get("orderLinkId") == link_id)

    def fill_partially(self, link_id: str, quantity: Decimal) -> None:
        order = self.orders[link_id]
        self._execute(order, quantity, self.prices[order["symbol"]])
        order["orderStatus"] = "PartiallyFilled"

    # -- middleware: faults, HMAC signature ----------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/v5/market/"):
            headers = request.headers
            if headers.get("X-BAPI-API-KEY") != self.key:
                return error(401, "API key is invalid.", 10003)
            body = await request.text()
            payload = headers.get("X-BAPI-TIMESTAMP", "") + self.key + \
                headers.get("X-BAPI-RECV-WINDOW", "") + (body or request.query_string)
            expected = hmac.new(self.secret.encode(), payload.encode(),
                                hashlib.sha256).hexdigest()
            if not hmac.compare_digest(headers.get("X-BAPI-SIGN", ""), expected):
                return error(401, "error sign! origin_string", 10004)
            request[BODY] = json.loads(body) if body else {}

        async def answer(req: web.Request) -> web.StreamResponse:
            try:
                return await handler(req)
            except BybitError as exc:
                return error(200, exc.message, exc.code)
        return await self.faults.apply(request, answer)

    # -- markets, account ------------------------------------------------------------

    async def _instruments(self, request: web.Request) -> web.Response:
        rows = [{"symbol": symbol, "contractType": "LinearPerpetual", "status": "Trading",
                 "baseCoin": symbol.removesuffix("USDT"), "quoteCoin": "USDT",
                 "settleCoin": "USDT", "launchTime": "1585526400000", "deliveryTime": "0",
                 "priceScale": "1",
                 "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00",
                                    "leverageStep": "0.01"},
                 "priceFilter": {"minPrice": "0.1", "maxPrice": "1999999.8",
                                 "tickSize": _text(TICK)},
                 "lotSizeFilter": {"maxOrderQty": "1190", "minOrderQty": _text(MIN_QTY),
                                   "qtyStep": _text(STEP),
                                   "minNotionalValue": _text(MIN_NOTIONAL)},
                 "unifiedMarginTrade": True, "fundingInterval": 480}
                for symbol in self.prices]
        category = request.query.get("category", "linear")
        return ok({"category": category, "list": rows if category == "linear" else [],
                   "nextPageCursor": ""})

    async def _coins(self, request: web.Request) -> web.Response:
        return ok({"rows": [{"name": coin, "coin": coin, "remainAmount": "1000000",
                             "chains": []} for coin in ("USDT", "BTC", "ETH")]})

    async def _wallet(self, request: web.Request) -> web.Response:
        unrealised = sum((q * (self.prices[s] - e) for s, (q, e) in self.positions.items()),
                         Decimal(0))
        equity = self.wallet + unrealised
        return ok({"list": [{
            "accountType": "UNIFIED", "totalEquity": _text(equity),
            "totalWalletBalance": _text(self.wallet), "totalAvailableBalance": _text(equity),
            "coin": [{"coin": "USDT", "equity": _text(equity),
                      "walletBalance": _text(self.wallet), "unrealisedPnl": _text(unrealised),
                      "locked": "0", "totalPositionIM": "0", "totalOrderIM": "0",
                      "availableToWithdraw": _text(self.wallet), "borrowAmount": "0",
                      "accruedInterest": "0"}]}]})

    async def _positions(self, request: web.Request) -> web.Response:
        rows = [{"symbol": symbol, "side": "Buy" if quantity > 0 else "Sell",
                 "size": _text(abs(quantity)), "avgPrice": _text(entry),
                 "markPrice": _text(self.prices[symbol]),
                 "unrealisedPnl": _text(quantity * (self.prices[symbol] - entry)),
                 "leverage": self.leverage.get(symbol, "10"), "positionIdx": 0,
                 "tradeMode": 0, "positionValue": _text(abs(quantity) * entry),
                 "createdTime": str(_now()), "updatedTime": str(_now())}
                for symbol, (quantity, entry) in self.positions.items()]
        return ok({"category": "linear", "list": rows, "nextPageCursor": ""})

    async def _set_leverage(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if self.leverage.get(body["symbol"]) == body["buyLeverage"]:
            raise BybitError(110043, "Set leverage not modified")
        self.leverage[body["symbol"]] = body["buyLeverage"]
        return ok({})

    async def _set_margin_mode(self, request: web.Request) -> web.Response:
        self.margin_mode = request[BODY]["setMarginMode"]
        return ok({"reasons": []})

    # -- orders -----------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        body = request[BODY]
        link_id = str(body.get("orderLinkId") or f"auto{next(self._ids)}")
        if link_id in self.orders:
            raise BybitError(110072, "OrderLinkedID is duplicate")
        quantity = Decimal(str(body["qty"]))
        if quantity % STEP != 0 or quantity < MIN_QTY:
            raise BybitError(10001, "Qty invalid")
        order: dict[str, Any] = {
            "orderId": str(next(self._ids)), "orderLinkId": link_id,
            "symbol": body["symbol"], "side": body["side"], "orderType": body["orderType"],
            "qty": quantity, "price": Decimal(str(body.get("price") or 0)),
            "triggerPrice": Decimal(str(body.get("triggerPrice") or 0)),
            "reduceOnly": bool(body.get("reduceOnly")), "timeInForce":
                body.get("timeInForce", "GTC"),
            "orderStatus": "Untriggered" if body.get("triggerPrice") else "New",
            "cumExecQty": Decimal(0), "avgPrice": Decimal(0), "cumExecFee": Decimal(0),
            "createdTime": str(_now()), "updatedTime": str(_now()),
        }
        if order["reduceOnly"]:
            held = self.positions.get(order["symbol"], (Decimal(0), Decimal(0)))[0]
            if held == 0 or (held > 0) == (order["side"] == "Buy"):
                raise BybitError(110017, "current position is zero, cannot fix reduce-only "
                                 "order qty")
        self.orders[link_id] = order
        self.created.append(body)
        if (order["orderType"] == "Market" and not order["triggerPrice"]) \
                or self._crosses(order):
            self._fill(order)
        return ok({"orderId": order["orderId"], "orderLinkId": link_id})

    async def _realtime(self, request: web.Request) -> web.Response:
        query = request.query
        link_id = query.get("orderLinkId")
        stops = query.get("orderFilter") == "StopOrder"
        if link_id:
            found = self.orders.get(link_id)
            rows = [found] if found is not None and bool(found["triggerPrice"]) == stops \
                else []
        else:
            open_only = request.path.endswith("realtime") and query.get("openOnly", "0") == "0"
            rows = [o for o in self.orders.values()
                    if not open_only or o["orderStatus"] in OPEN]
            if "orderFilter" in query:
                rows = [o for o in rows if bool(o["triggerPrice"]) == stops]
        return ok({"category": "linear", "list": [self._view(o) for o in rows],
                   "nextPageCursor": ""})

    async def _cancel(self, request: web.Request) -> web.Response:
        body = request[BODY]
        order = self.orders.get(str(body.get("orderLinkId"))) or next(
            (o for o in self.orders.values() if o["orderId"] == body.get("orderId")), None)
        if order is None or order["orderStatus"] not in OPEN:
            raise BybitError(110001, "order not exists or too late to cancel")
        order["orderStatus"] = "Cancelled"
        return ok({"orderId": order["orderId"], "orderLinkId": order["orderLinkId"]})

    def _view(self, order: dict[str, Any]) -> dict[str, Any]:
        view = {key: (_text(value) if isinstance(value, Decimal) else value)
                for key, value in order.items()}
        if not order["triggerPrice"]:
            view["triggerPrice"] = ""
        view["leavesQty"] = _text(order["qty"] - order["cumExecQty"])
        view["cumExecValue"] = _text(order["cumExecQty"] * order["avgPrice"])
        view["stopOrderType"] = "Stop" if order["triggerPrice"] else ""
        view["positionIdx"] = 0
        return view

    def _crosses(self, order: dict[str, Any]) -> bool:
        price = self.prices[order["symbol"]]
        buy = order["side"] == "Buy"
        if order["triggerPrice"]:
            trigger = order["triggerPrice"]
            return price >= trigger if buy else price <= trigger
        if order["orderType"] == "Limit":
            return price <= order["price"] if buy else price >= order["price"]
        return False

    def _fill(self, order: dict[str, Any]) -> None:
        limit = order["orderType"] == "Limit" and not order["triggerPrice"]
        price = order["price"] if limit else self.prices[order["symbol"]]
        self._execute(order, order["qty"] - order["cumExecQty"], price)
        order["orderStatus"] = "Filled"

    def _execute(self, order: dict[str, Any], quantity: Decimal, price: Decimal) -> None:
        sign = 1 if order["side"] == "Buy" else -1
        held, entry = self.positions.get(order["symbol"], (Decimal(0), Decimal(0)))
        if order["reduceOnly"]:
            quantity = min(quantity, abs(held))
        after = held + sign * quantity
        if held != 0 and (held > 0) != (sign > 0):
            self.wallet += min(quantity, abs(held)) * (price - entry) * (1 if held > 0 else -1)
        if after == 0:
            self.positions.pop(order["symbol"], None)
        elif held == 0 or (held > 0) == (sign > 0):
            self.positions[order["symbol"]] = (after, (abs(held) * entry + quantity * price)
                                               / abs(after))
        elif (after > 0) != (held > 0):
            self.positions[order["symbol"]] = (after, price)
        else:
            self.positions[order["symbol"]] = (after, entry)
        done = order["cumExecQty"]
        if quantity > 0:
            order["avgPrice"] = (done * order["avgPrice"] + quantity * price) / (done + quantity)
            order["cumExecQty"] = done + quantity
        order["updatedTime"] = str(_now())


def _now() -> int:
    return int(time.time() * 1000)
