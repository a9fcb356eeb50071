"""A fake Binance (spot ``/api/v3`` and USDⓈ-M futures ``/fapi``) on 127.0.0.1.

It speaks the subset of the REST API ccxt's ``binance`` class uses for the adapter:
exchange info (markets with LOT_SIZE / PRICE_FILTER / NOTIONAL filters), account and
balances, orders by ``newClientOrderId`` / ``origClientOrderId``, open orders,
futures positions, leverage and margin type. Requests must carry the API key and a
valid HMAC-SHA256 signature. Market orders fill at once at ``set_price``; limit
orders rest until a price crosses them. Faults as the Alpaca fake
(:mod:`fakes.venue_faults`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from fakes.venue import FakeVenue, Refusal

PARAMS = web.RequestKey("params", dict)
FAKE_KEY = "binance-fake-key"
FAKE_SECRET = "binance-fake-secret"
STEP, TICK, MIN_QTY, MIN_NOTIONAL = Decimal("0.001"), Decimal("0.1"), Decimal("0.001"), \
    Decimal(5)


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


class BinanceError(Refusal):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def answer(self) -> web.Response:
        return error(self.status, self.message, self.code)


def error(status: int, message: str, code: int = -2010) -> web.Response:
    if status >= 500:  # a gateway's page, as Binance's edge answers when it fails
        return web.Response(status=status, text=f"<html>{status} {message}</html>",
                            content_type="text/html")
    return web.json_response({"code": code, "msg": message}, status=status)


class FakeBinance(FakeVenue):
    """One fake account: spot balances, a futures wallet and positions."""

    def __init__(self, key: str = FAKE_KEY, secret: str = FAKE_SECRET,
                 hang_seconds: float = 2.0) -> None:
        super().__init__(error, hang_seconds, first_id=1000)
        self.key, self.secret = key, secret
        self.prices: dict[str, Decimal] = {"BTCUSDT": Decimal(60000), "ETHUSDT": Decimal(3000)}
        self.spot: dict[str, Decimal] = {"USDT": Decimal(100_000)}
        self.wallet = Decimal(100_000)
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (signed, entry)
        self.leverage: dict[str, int] = {}
        self.margin_type: dict[str, str] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.by_client: dict[tuple[str, str], int] = {}  # (book, clientOrderId) -> id
        self.algo: dict[str, dict[str, Any]] = {}  # futures stop orders by clientAlgoId
        self.algo_by_client = self.algo
        self.created: list[dict[str, Any]] = []  # every order created, as sent

    def route(self, routes: web.UrlDispatcher) -> None:
        for book, prefix in (("spot", "/api/v3"), ("futures", "/fapi/v1")):
            routes.add_get(f"{prefix}/exchangeInfo", self._info(book))
            routes.add_post(f"{prefix}/order", self._create(book))
            routes.add_get(f"{prefix}/order", self._get(book))
            routes.add_delete(f"{prefix}/order", self._cancel(book))
            routes.add_get(f"{prefix}/openOrders", self._open(book))
        routes.add_get("/api/v3/account", self._spot_account)
        for version in ("v2", "v3"):
            routes.add_get(f"/fapi/{version}/account", self._futures_account)
            routes.add_get(f"/fapi/{version}/positionRisk", self._position_risk)
        routes.add_post("/fapi/v1/algoOrder", self._create_algo)
        routes.add_get("/fapi/v1/algoOrder", self._get_algo)
        routes.add_delete("/fapi/v1/algoOrder", self._cancel_algo)
        routes.add_get("/fapi/v1/openAlgoOrders", self._open_algo)
        routes.add_get("/fapi/v1/leverageBracket", self._brackets)
        routes.add_post("/fapi/v1/leverage", self._set_leverage)
        routes.add_post("/fapi/v1/marginType", self._set_margin_type)

    # -- control ------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal | str | int) -> None:
        """The price of ``symbol`` (``BTCUSDT``); resting orders it crosses fill."""
        self.prices[symbol] = Decimal(price)
        for order in list(self.orders.values()):
            if order["symbol"] == symbol and order["status"] in ("NEW", "PARTIALLY_FILLED") \
                    and self._crosses(order):
                self._fill(order)

    def fill_partially(self, book: str, client_order_id: str, quantity: Decimal) -> None:
        """Fill ``quantity`` more of a resting order at the market price."""
        order = self.order(book, client_order_id)
        assert order is not None and order["status"] in ("NEW", "PARTIALLY_FILLED")
        self._execute(order, quantity, self.prices[order["symbol"]])
        order["status"] = "PARTIALLY_FILLED"

    def placements(self, client_order_id: str) -> int:
        """How many orders were created under this id (any book)."""
        return sum(1 for sent in self.created
                   if client_order_id in (sent.get("newClientOrderId"),
                                          sent.get("clientAlgoId")))

    def order(self, book: str, client_order_id: str) -> dict[str, Any] | None:
        order_id = self.by_client.get((book, client_order_id))
        return None if order_id is None else self.orders[order_id]

    # -- key, signature ---------------------------------------------------------

    async def refuse(self, request: web.Request) -> web.Response | None:
        if request.path.endswith("/exchangeInfo"):
            return None
        if request.headers.get("X-MBX-APIKEY") != self.key:
            return error(401, "API-key format invalid.", -2014)
        body = await request.text()
        signed = "&".join(p for p in (request.query_string, body) if p)
        payload, _, signature = signed.rpartition("&signature=")
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            return error(400, "Signature for this request is not valid.", -1022)
        request[PARAMS] = dict(parse_qsl(payload))
        return None

    # -- markets ----------------------------------------------------------------

    def _info(self, book: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            symbols = []
            for base in ("BTC", "ETH"):
                market: dict[str, Any] = {
                    "symbol": f"{base}USDT", "status": "TRADING", "baseAsset": base,
                    "quoteAsset": "USDT", "baseAssetPrecision": 8, "quotePrecision": 8,
                    "orderTypes": ["LIMIT", "MARKET", "STOP_LOSS", "STOP_MARKET"],
                    "permissions": ["SPOT"], "isSpotTradingAllowed": True,
                    "filters": [
                        {"filterType": "PRICE_FILTER", "minPrice": "0.1",
                         "maxPrice": "1000000", "tickSize": _text(TICK)},
                        {"filterType": "LOT_SIZE", "minQty": _text(MIN_QTY),
                         "maxQty": "1000", "stepSize": _text(STEP)},
                        {"filterType": "NOTIONAL" if book == "spot" else "MIN_NOTIONAL",
                         "minNotional" if book == "spot" else "notional":
                             _text(MIN_NOTIONAL)}],
                }
                if book == "futures":
                    market.update({"pair": f"{base}USDT", "contractType": "PERPETUAL",
                                   "marginAsset": "USDT", "pricePrecision": 1,
                                   "quantityPrecision": 3, "underlyingType": "COIN"})
                symbols.append(market)
            return web.json_response({"timezone": "UTC", "serverTime": _now(),
                                      "symbols": symbols})
        return handler

    # -- orders -------------------------------------------------------------------

    def _create(self, book: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            params: dict[str, str] = request[PARAMS]
            client_id = params.get("newClientOrderId") or f"auto{next(self._ids)}"
            if (book, client_id) in self.by_client:
                raise BinanceError(400, -4116 if book == "futures" else -2010,
                                   "Duplicate clientOrderId.")
            symbol = params["symbol"]
            quantity = Decimal(params["quantity"])
            if quantity % STEP != 0 or quantity < MIN_QTY:
                raise BinanceError(400, -1013, "Filter failure: LOT_SIZE")
            kind = params["type"]
            order: dict[str, Any] = {
                "book": book, "orderId": next(self._ids), "clientOrderId": client_id,
                "symbol": symbol, "side": params["side"], "type": kind,
                "origQty": quantity, "executedQty": Decimal(0), "avgPrice": Decimal(0),
                "price": Decimal(params.get("price", "0")),
                "stopPrice": Decimal(params.get("stopPrice", "0")),
                "reduceOnly": params.get("reduceOnly") == "true",
                "timeInForce": params.get("timeInForce", "GTC"), "status": "NEW",
                "time": _now(), "updateTime": _now(),
            }
            if order["price"] and order["price"] % TICK != 0:
                raise BinanceError(400, -1013, "Filter failure: PRICE_FILTER")
            self._check_funds(order)
            self.orders[order["orderId"]] = order
            self.by_client[(book, client_id)] = order["orderId"]
            self.created.append(dict(params))
            if kind == "MARKET" or self._crosses(order):
                self._fill(order)
            return web.json_response(self._view(order))
        return handler

    def _get(self, book: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(self._view(self._find(book, request[PARAMS])))
        return handler

    def _cancel(self, book: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            order = self._find(book, request[PARAMS])
            if order["status"] not in ("NEW", "PARTIALLY_FILLED"):
                raise BinanceError(400, -2011, "Unknown order sent.")
            order["status"] = "CANCELED"
            return web.json_response(self._view(order))
        return handler

    def _open(self, book: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            symbol = request[PARAMS].get("symbol")
            return web.json_response([
                self._view(o) for o in self.orders.values()
                if o["book"] == book and o["status"] in ("NEW", "PARTIALLY_FILLED")
                and symbol in (None, o["symbol"])])
        return handler

    def _find(self, book: str, params: dict[str, str]) -> dict[str, Any]:
        if "origClientOrderId" in params:
            order_id = self.by_client.get((book, params["origClientOrderId"]))
        else:
            order_id = int(params.get("orderId", "0") or 0)
        order = self.orders.get(order_id or -1)
        if order is None or order["book"] != book:
            raise BinanceError(400, -2013, "Order does not exist.")
        return order

    def _crosses(self, order: dict[str, Any]) -> bool:
        price = self.prices[order["symbol"]]
        buy = order["side"] == "BUY"
        if order["type"] == "LIMIT":
            return price <= order["price"] if buy else price >= order["price"]
        if order["type"] in ("STOP_MARKET", "STOP_LOSS", "STOP"):
            return price >= order["stopPrice"] if buy else price <= order["stopPrice"]
        return False

    def _check_funds(self, order: dict[str, Any]) -> None:
        base = order["symbol"].removesuffix("USDT")
        cost = order["origQty"] * (order["price"] or self.prices[order["symbol"]])
        if order["book"] == "spot":
            if order["side"] == "SELL" and self.spot.get(base, Decimal(0)) < order["origQty"]:
                raise BinanceError(400, -2010, "Account has insufficient balance for "
                                   "requested action.")
            if order["side"] == "BUY" and self.spot["USDT"] < cost:
                raise BinanceError(400, -2010, "Account has insufficient balance for "
                                   "requested action.")
        elif order["reduceOnly"]:
            held = self.positions.get(order["symbol"], (Decimal(0), Decimal(0)))[0]
            if held == 0 or (held > 0) == (order["side"] == "BUY"):
                raise BinanceError(400, -2022, "ReduceOnly Order is rejected.")

    def _fill(self, order: dict[str, Any]) -> None:
        price = order["price"] if order["type"] == "LIMIT" else self.prices[order["symbol"]]
        self._execute(order, order["origQty"] - order["executedQty"], price)
        order["status"] = "FILLED"

    def _execute(self, order: dict[str, Any], quantity: Decimal, price: Decimal) -> None:
        """Trade ``quantity`` of ``order`` at ``price``: balances, position, averages."""
        sign = 1 if order["side"] == "BUY" else -1
        if order["book"] == "spot":
            base = order["symbol"].removesuffix("USDT")
            self.spot[base] = self.spot.get(base, Decimal(0)) + sign * quantity
            self.spot["USDT"] -= sign * quantity * price
        else:
            held, entry = self.positions.get(order["symbol"], (Decimal(0), Decimal(0)))
            if order["reduceOnly"]:
                quantity = min(quantity, abs(held))
            after = held + sign * quantity
            if held != 0 and (held > 0) != (sign > 0):  # closing part realises pnl
                closed = min(quantity, abs(held))
                self.wallet += closed * (price - entry) * (1 if held > 0 else -1)
            if after == 0:
                self.positions.pop(order["symbol"], None)
            elif held == 0 or (held > 0) == (sign > 0):  # opening or adding
                average = (abs(held) * entry + quantity * price) / abs(after)
                self.positions[order["symbol"]] = (after, average)
            elif (after > 0) != (held > 0):  # crossed zero: the rest opened at price
                self.positions[order["symbol"]] = (after, price)
            else:  # reduced
                self.positions[order["symbol"]] = (after, entry)
        done = order["executedQty"]
        if quantity > 0:
            order["avgPrice"] = (done * order["avgPrice"] + quantity * price) / (done + quantity)
            order["executedQty"] = done + quantity
        order["updateTime"] = _now()

    def _view(self, order: dict[str, Any]) -> dict[str, Any]:
        shown = {key: (_text(value) if isinstance(value, Decimal) else value)
                 for key, value in order.items() if key != "book"}
        shown["cummulativeQuoteQty"] = _text(order["executedQty"] * order["avgPrice"])
        shown["cumQuote"] = shown["cummulativeQuoteQty"]
        shown["transactTime"] = order["updateTime"]
        if order["book"] == "spot":
            shown.pop("avgPrice")
            shown.pop("reduceOnly")
        return shown

    # -- accounts -------------------------------------------------------------------

    async def _spot_account(self, request: web.Request) -> web.Response:
        return web.json_response({
            "canTrade": True, "accountType": "SPOT", "updateTime": _now(),
            "balances": [{"asset": asset, "free": _text(amount), "locked": "0"}
                         for asset, amount in self.spot.items()]})

    async def _futures_account(self, request: web.Request) -> web.Response:
        unrealised = sum((q * (self.prices[s] - e) for s, (q, e) in self.positions.items()),
                         Decimal(0))
        asset = {"asset": "USDT", "walletBalance": _text(self.wallet),
                 "unrealizedProfit": _text(unrealised),
                 "marginBalance": _text(self.wallet + unrealised),
                 "availableBalance": _text(self.wallet), "crossWalletBalance":
                     _text(self.wallet), "updateTime": _now()}
        return web.json_response({
            "totalWalletBalance": _text(self.wallet), "availableBalance": _text(self.wallet),
            "assets": [asset], "positions": []})

    async def _position_risk(self, request: web.Request) -> web.Response:
        rows = []
        for symbol, (quantity, entry) in self.positions.items():
            mark = self.prices[symbol]
            rows.append({
                "symbol": symbol, "positionAmt": _text(quantity), "entryPrice": _text(entry),
                "markPrice": _text(mark), "unRealizedProfit": _text(quantity * (mark - entry)),
                "leverage": str(self.leverage.get(symbol, 20)),
                "marginType": self.margin_type.get(symbol, "cross"),
                "positionSide": "BOTH", "notional": _text(quantity * mark),
                "isolatedMargin": "0", "updateTime": _now()})
        return web.json_response(rows)

    # -- futures conditional (algo) orders: stops rest here ----------------------

    async def _create_algo(self, request: web.Request) -> web.Response:
        params: dict[str, str] = request[PARAMS]
        client_id = params.get("clientAlgoId") or f"auto{next(self._ids)}"
        if client_id in self.algo_by_client:
            raise BinanceError(400, -4116, "Duplicate clientAlgoId.")
        order = {"algoId": next(self._ids), "clientAlgoId": client_id, "algoType": "CONDITIONAL",
                 "orderType": params.get("type", "STOP_MARKET"), "symbol": params["symbol"],
                 "side": params["side"], "positionSide": "BOTH", "timeInForce": "GTC",
                 "quantity": params.get("quantity", "0"), "algoStatus": "NEW",
                 "triggerPrice": params.get("triggerPrice", "0"), "price": "0",
                 "reduceOnly": params.get("reduceOnly") == "true", "createTime": _now(),
                 "updateTime": _now()}
        self.algo[client_id] = order
        self.algo_by_client[client_id] = order
        self.created.append(dict(params))
        return web.json_response(order)

    def _find_algo(self, params: dict[str, str]) -> dict[str, Any]:
        order = self.algo_by_client.get(params.get("clientAlgoId", ""))
        if order is None:
            raise BinanceError(400, -2013, "Order does not exist.")
        return order

    async def _get_algo(self, request: web.Request) -> web.Response:
        return web.json_response(self._find_algo(request[PARAMS]))

    async def _cancel_algo(self, request: web.Request) -> web.Response:
        order = self._find_algo(request[PARAMS])
        order["algoStatus"] = "CANCELED"
        return web.json_response(order)

    async def _open_algo(self, request: web.Request) -> web.Response:
        return web.json_response([o for o in self.algo.values() if o["algoStatus"] == "NEW"])

    async def _brackets(self, request: web.Request) -> web.Response:
        return web.json_response([
            {"symbol": f"{base}USDT", "brackets": [
                {"bracket": 1, "initialLeverage": 125, "notionalCap": 1_000_000,
                 "notionalFloor": 0, "maintMarginRatio": 0.004, "cum": 0}]}
            for base in ("BTC", "ETH")])

    async def _set_leverage(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        self.leverage[params["symbol"]] = int(params["leverage"])
        return web.json_response({"symbol": params["symbol"],
                                  "leverage": int(params["leverage"]),
                                  "maxNotionalValue": "1000000"})

    async def _set_margin_type(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        wanted = params["marginType"].lower()
        if self.margin_type.get(params["symbol"], "cross") == wanted:
            raise BinanceError(400, -4046, "No need to change margin type.")
        self.margin_type[params["symbol"]] = wanted
        return web.json_response({"code": 200, "msg": "success"})


def _now() -> int:
    return int(time.time() * 1000)
