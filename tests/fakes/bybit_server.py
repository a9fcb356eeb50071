"""A fake Bybit (REST v5, unified trading account: USDT linear perpetuals and spot)
on 127.0.0.1, as ccxt's ``bybit`` class speaks it.

Private requests must carry ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP``,
``X-BAPI-RECV-WINDOW`` and ``X-BAPI-SIGN``: the HMAC-SHA256 (hex) of timestamp + key +
recv window + the query string (GET) or the JSON body (POST). It serves the linear
and spot instruments, the wallet balance (USDT and the coins spot trades bought),
positions, orders by ``orderLinkId`` per category (regular and stop: a spot stop is
an ``orderFilter=StopOrder`` order, found and cancelled only under that filter),
open orders, leverage and margin mode. Market orders fill at ``set_price``; limit
and stop orders rest until the price crosses them. A spot order never sells more
coins, nor spends more USDT, than the wallet holds (Bybit's 170131); spot orders
know no reduce-only and no trigger direction, and a spot market order's quantity
must be in the base coin (``marketUnit=baseCoin``). Faults as the Alpaca fake
(:mod:`fakes.venue_faults`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any

from aiohttp import web
from fakes.venue import FakeVenue, Refusal

FAKE_KEY = "bybit-fake-key"
FAKE_SECRET = "bybit-fake-secret"
STEP, TICK, MIN_QTY, MIN_NOTIONAL = Decimal("0.001"), Decimal("0.1"), Decimal("0.001"), \
    Decimal(5)
SPOT_STEP, SPOT_MIN_QTY, SPOT_MIN_AMOUNT = Decimal("0.000001"), Decimal("0.000048"), \
    Decimal(1)
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


class BybitError(Refusal):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    def answer(self) -> web.Response:
        return error(200, self.message, self.code)


class FakeBybit(FakeVenue):
    """One unified trading account: a USDT wallet and linear positions."""

    def __init__(self, key: str = FAKE_KEY, secret: str = FAKE_SECRET,
                 hang_seconds: float = 2.0) -> None:
        super().__init__(error, hang_seconds, first_id=7000)
        self.key, self.secret = key, secret
        self.prices: dict[str, Decimal] = {"BTCUSDT": Decimal(60000), "ETHUSDT": Decimal(3000)}
        self.wallet = Decimal(100_000)
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}
        self.spot: dict[str, Decimal] = {}  # coins held by spot trades, by coin
        self.leverage: dict[str, str] = {}
        self.margin_mode = "REGULAR_MARGIN"
        self.orders: dict[str, dict[str, Any]] = {}  # by orderLinkId
        self.created: list[dict[str, Any]] = []

    def route(self, routes: web.UrlDispatcher) -> None:
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

    # -- HMAC signature ---------------------------------------------------------------------

    async def refuse(self, request: web.Request) -> web.Response | None:
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
        return None

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
        if category == "spot":
            rows = [{"symbol": symbol, "baseCoin": symbol.removesuffix("USDT"),
                     "quoteCoin": "USDT", "innovation": "0", "status": "Trading",
                     "marginTrading": "none",
                     "lotSizeFilter": {"basePrecision": _text(SPOT_STEP),
                                       "quotePrecision": "0.00000001",
                                       "minOrderQty": _text(SPOT_MIN_QTY),
                                       "maxOrderQty": "71.73956243",
                                       "minOrderAmt": _text(SPOT_MIN_AMOUNT),
                                       "maxOrderAmt": "2000000"},
                     "priceFilter": {"tickSize": "0.01"}}
                    for symbol in self.prices]
        return ok({"category": category,
                   "list": rows if category in ("linear", "spot") else [],
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
                      "accruedInterest": "0"}] + [
                {"coin": coin, "equity": _text(held), "walletBalance": _text(held),
                 "unrealisedPnl": "0", "locked": "0", "totalPositionIM": "0",
                 "totalOrderIM": "0", "availableToWithdraw": _text(held),
                 "borrowAmount": "0", "accruedInterest": "0"}
                for coin, held in self.spot.items() if held]}]})

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
        category = str(body.get("category"))
        if category not in ("linear", "spot"):
            raise BybitError(10001, f"category {category} not supported")
        link_id = str(body.get("orderLinkId") or f"auto{next(self._ids)}")
        if link_id in self.orders:
            raise BybitError(110072, "OrderLinkedID is duplicate")
        quantity = Decimal(str(body["qty"]))
        if category == "spot":
            self._check_spot(body, quantity)
        elif quantity % STEP != 0 or quantity < MIN_QTY:
            raise BybitError(10001, "Qty invalid")
        order: dict[str, Any] = {
            "orderId": str(next(self._ids)), "orderLinkId": link_id, "category": category,
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
        fills_now = (order["orderType"] == "Market" and not order["triggerPrice"]) \
            or self._crosses(order)
        if category == "spot" and not order["triggerPrice"]:
            self._check_funds(order)  # a spot order is covered when placed
        self.orders[link_id] = order
        self.created.append(body)
        if fills_now:
            self._fill(order)
        return ok({"orderId": order["orderId"], "orderLinkId": link_id})

    async def _realtime(self, request: web.Request) -> web.Response:
        query = request.query
        category = query.get("category", "linear")
        link_id = query.get("orderLinkId")
        stops = query.get("orderFilter") == "StopOrder"
        if link_id:
            found = self.orders.get(link_id)
            rows = [found] if found is not None and bool(found["triggerPrice"]) == stops \
                and found["category"] == category else []
        else:
            open_only = request.path.endswith("realtime") and query.get("openOnly", "0") == "0"
            rows = [o for o in self.orders.values() if o["category"] == category
                    and (not open_only or o["orderStatus"] in OPEN)]
            # Spot lists plain orders unless asked for stops (orderFilter=Order).
            if "orderFilter" in query or category == "spot":
                rows = [o for o in rows if bool(o["triggerPrice"]) == stops]
        return ok({"category": category, "list": [self._view(o) for o in rows],
                   "nextPageCursor": ""})

    async def _cancel(self, request: web.Request) -> web.Response:
        body = request[BODY]
        order = self.orders.get(str(body.get("orderLinkId"))) or next(
            (o for o in self.orders.values() if o["orderId"] == body.get("orderId")), None)
        if order is not None and order["category"] == "spot" and \
                (body.get("orderFilter") == "StopOrder") != bool(order["triggerPrice"]):
            order = None  # a spot order is cancelled under its own orderFilter only
        if order is None or order["orderStatus"] not in OPEN \
                or order["category"] != body.get("category"):
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
        view["stopOrderType"] = ("StopOrder" if order["category"] == "spot" else "Stop") \
            if order["triggerPrice"] else ""
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
        if order["category"] == "spot":
            try:  # a spot order needs the funds when it fills (a stop: when triggered)
                self._check_funds(order)
            except BybitError:
                order["orderStatus"] = "Rejected"
                return
        self._execute(order, order["qty"] - order["cumExecQty"], price)
        order["orderStatus"] = "Filled"

    def _check_spot(self, body: dict[str, Any], quantity: Decimal) -> None:
        """What Bybit refuses of a spot order, as ccxt could send it."""
        if body.get("reduceOnly") or body.get("triggerDirection"):
            raise BybitError(170130, "Spot orders take no reduceOnly or triggerDirection")
        if bool(body.get("triggerPrice")) != (body.get("orderFilter") == "StopOrder"):
            raise BybitError(170130, "A spot trigger order needs orderFilter=StopOrder")
        if body["orderType"] == "Market" and body.get("marketUnit") != "baseCoin":
            raise BybitError(170130, "The fake takes spot market quantities in the base coin")
        if quantity % SPOT_STEP != 0 or quantity < SPOT_MIN_QTY:
            raise BybitError(170137, "Order quantity has too many decimals.")
        price = Decimal(str(body.get("price") or 0)) or self.prices[body["symbol"]]
        if quantity * price < SPOT_MIN_AMOUNT:
            raise BybitError(170140, "Order value exceeded lower limit.")

    def _check_funds(self, order: dict[str, Any]) -> None:
        """A spot order spends no more USDT, and sells no more coins, than held."""
        left = order["qty"] - order["cumExecQty"]
        if order["side"] == "Sell":
            enough = self.spot.get(_base(order["symbol"]), Decimal(0)) >= left
        else:
            price = order["price"] or self.prices[order["symbol"]]
            enough = self.wallet >= left * price
        if not enough:
            raise BybitError(170131, "Insufficient balance.")

    def _execute(self, order: dict[str, Any], quantity: Decimal, price: Decimal) -> None:
        if order["category"] == "spot":
            sign = 1 if order["side"] == "Buy" else -1
            base = _base(order["symbol"])
            self.spot[base] = self.spot.get(base, Decimal(0)) + sign * quantity
            self.wallet -= sign * quantity * price
            self._record(order, quantity, price)
            return
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
        self._record(order, quantity, price)

    @staticmethod
    def _record(order: dict[str, Any], quantity: Decimal, price: Decimal) -> None:
        done = order["cumExecQty"]
        if quantity > 0:
            order["avgPrice"] = (done * order["avgPrice"] + quantity * price) / (done + quantity)
            order["cumExecQty"] = done + quantity
        order["updatedTime"] = str(_now())


def _base(symbol: str) -> str:
    return symbol.removesuffix("USDT")


def _now() -> int:
    return int(time.time() * 1000)
