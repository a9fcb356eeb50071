"""A fake OKX (REST v5, one unified trading account: spot and USDT-margined
perpetual swaps) on 127.0.0.1, as ccxt's ``okx`` class speaks it.

Private requests must carry ``OK-ACCESS-KEY``, ``OK-ACCESS-PASSPHRASE``,
``OK-ACCESS-TIMESTAMP`` and ``OK-ACCESS-SIGN``: the HMAC-SHA256 (base64) of timestamp +
method + request path (with its query) + the JSON body; a wrong key, passphrase or
secret is refused (50111 / 50105 / 50113). It serves the instruments (spot
``BTC-USDT``, swaps ``BTC-USDT-SWAP`` trading in contracts of ``ctVal`` coins), the
server time, the trading balance, positions (one-way mode: ``posSide`` net, ``pos``
signed, in contracts), orders by ``clOrdId``, trigger (algo) orders by
``algoClOrdId``, pending orders, cancels and set-leverage. Market orders fill at
``set_price``; limit and trigger orders rest until the price crosses them. Sizes
(``sz``) are contracts on swaps and coins on spot, as on OKX. Faults as the Alpaca
fake (:mod:`fakes.venue_faults`); ``simulated`` records each private request's
``x-simulated-trading`` header (demo trading).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any

from aiohttp import web
from fakes.venue import FakeVenue, Refusal

FAKE_KEY = "okx-fake-key"
FAKE_SECRET = "okx-fake-secret"
FAKE_PASSPHRASE = "okx-fake-passphrase"
# Per underlying: contract value in coins, lot size (contracts), tick.
SWAPS = {"BTC-USDT": (Decimal("0.01"), Decimal("0.01"), Decimal("0.1")),
         "ETH-USDT": (Decimal("0.1"), Decimal(1), Decimal("0.01"))}
SPOT_LOT = Decimal("0.00001")
OPEN = ("live", "partially_filled")
BODY = web.RequestKey("body", Any)
ZERO = Decimal(0)


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def error(status: int, message: str, code: str = "51008") -> web.Response:
    """OKX's answer to a failure: 5xx as an HTML page, 429 as 50011, a refusal as
    HTTP 200 with the code and (for orders) the item's ``sCode`` / ``sMsg``."""
    if status >= 500:
        return web.Response(status=status, text=f"<html>{status} {message}</html>",
                            content_type="text/html")
    if status == 429:
        return web.json_response({"code": "50011", "msg": "Too Many Requests", "data": []},
                                 status=429)
    if status == 401:
        return web.json_response({"code": code, "msg": message, "data": []}, status=401)
    return web.json_response({"code": code, "msg": message,
                              "data": [{"sCode": code, "sMsg": message, "clOrdId": "",
                                        "ordId": ""}]})


def ok(data: list[Any]) -> web.Response:
    return web.json_response({"code": "0", "msg": "", "data": data})


class OkxError(Refusal):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    def answer(self) -> web.Response:
        return error(200, self.message, self.code)


def underlying(inst_id: str) -> str:
    """``BTC-USDT-SWAP`` / ``BTC-USDT`` -> ``BTC-USDT``."""
    return inst_id.removesuffix("-SWAP")


class FakeOkx(FakeVenue):
    """One trading account: USDT cash, spot coins and swap positions (contracts)."""

    def __init__(self, key: str = FAKE_KEY, secret: str = FAKE_SECRET,
                 passphrase: str = FAKE_PASSPHRASE, hang_seconds: float = 2.0) -> None:
        super().__init__(error, hang_seconds, first_id=600_000_000)
        self.key, self.secret, self.passphrase = key, secret, passphrase
        self.prices: dict[str, Decimal] = {"BTC-USDT": Decimal(60000),
                                           "ETH-USDT": Decimal(3000)}
        self.cash = Decimal(1_000_000)
        self.coins: dict[str, Decimal] = {}
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # instId -> (pos, avgPx)
        self.leverage: dict[str, tuple[str, str]] = {}  # instId -> (lever, mgnMode)
        self.orders: dict[str, dict[str, Any]] = {}  # by clOrdId or algoClOrdId
        self.created: list[dict[str, Any]] = []
        self.simulated: list[str] = []
        self.listings: list[tuple[str, str]] = []  # (endpoint, instType) of each listing

    def route(self, routes: web.UrlDispatcher) -> None:
        routes.add_get("/api/v5/public/instruments", self._instruments)
        routes.add_get("/api/v5/public/time", self._time)
        routes.add_get("/api/v5/asset/currencies", self._currencies)
        routes.add_get("/api/v5/account/balance", self._balance)
        routes.add_get("/api/v5/account/positions", self._positions)
        routes.add_post("/api/v5/account/set-leverage", self._set_leverage)
        routes.add_post("/api/v5/trade/order", self._create)
        routes.add_post("/api/v5/trade/order-algo", self._create)
        routes.add_get("/api/v5/trade/order", self._order)
        routes.add_get("/api/v5/trade/order-algo", self._order)
        routes.add_get("/api/v5/trade/orders-pending", self._pending)
        routes.add_get("/api/v5/trade/orders-algo-pending", self._pending)
        routes.add_post("/api/v5/trade/cancel-order", self._cancel)
        routes.add_post("/api/v5/trade/cancel-algos", self._cancel)

    # -- control ------------------------------------------------------------------

    def set_price(self, inst_id: str, price: Decimal | str | int) -> None:
        """The price of ``inst_id``'s underlying (``BTC-USDT`` or ``BTC-USDT-SWAP``);
        resting orders it crosses fill (a trigger order fires)."""
        self.prices[underlying(inst_id)] = Decimal(price)
        for order in list(self.orders.values()):
            if underlying(order["instId"]) == underlying(inst_id) \
                    and order["state"] in OPEN and self._crosses(order):
                self._fill(order)

    def placements(self, client_id: str) -> int:
        """How many placements under ``client_id`` (clOrdId or algoClOrdId) arrived."""
        return sum(1 for body in self.created
                   if client_id in (body.get("clOrdId"), body.get("algoClOrdId")))

    def fill_partially(self, client_id: str, size: Decimal) -> None:
        """Fill ``size`` (contracts on a swap) of the resting order ``client_id``."""
        order = self.orders[client_id]
        self._execute(order, size, self.prices[underlying(order["instId"])])
        order["state"] = "partially_filled"

    def contract_value(self, inst_id: str) -> Decimal:
        """Coins per contract of ``inst_id`` (1 on spot)."""
        return SWAPS[underlying(inst_id)][0] if inst_id.endswith("-SWAP") else Decimal(1)

    # -- HMAC signature ---------------------------------------------------------------

    async def refuse(self, request: web.Request) -> web.Response | None:
        if not request.path.startswith("/api/v5/public/"):
            headers = request.headers
            if headers.get("OK-ACCESS-KEY") != self.key:
                return error(401, "Invalid OK-ACCESS-KEY", "50111")
            if headers.get("OK-ACCESS-PASSPHRASE") != self.passphrase:
                return error(401, "OK-ACCESS-PASSPHRASE incorrect", "50105")
            body = await request.text()
            payload = headers.get("OK-ACCESS-TIMESTAMP", "") + request.method + \
                request.raw_path + body
            expected = base64.b64encode(hmac.new(self.secret.encode(), payload.encode(),
                                                 hashlib.sha256).digest()).decode()
            if not hmac.compare_digest(headers.get("OK-ACCESS-SIGN", ""), expected):
                return error(401, "Invalid Sign", "50113")
            self.simulated.append(headers.get("x-simulated-trading", ""))
            request[BODY] = json.loads(body) if body else {}
        return None

    # -- markets, account ------------------------------------------------------------

    async def _instruments(self, request: web.Request) -> web.Response:
        kind = request.query.get("instType", "SPOT")
        rows: list[dict[str, Any]] = []
        for pair in self.prices:
            base, quote = pair.split("-")
            common = {"instType": kind, "state": "live", "listTime": "1606468572000",
                      "category": "1", "alias": "", "expTime": "", "optType": "",
                      "stk": "", "maxLmtSz": "100000000", "maxMktSz": "1000000"}
            if kind == "SWAP" and pair in SWAPS:
                value, lot, tick = SWAPS[pair]
                rows.append({**common, "instId": f"{pair}-SWAP", "uly": pair,
                             "instFamily": pair, "baseCcy": "", "quoteCcy": "",
                             "settleCcy": quote, "ctVal": _text(value), "ctMult": "1",
                             "ctValCcy": base, "ctType": "linear", "lever": "100",
                             "lotSz": _text(lot), "minSz": _text(lot), "tickSz": _text(tick)})
            elif kind == "SPOT":
                rows.append({**common, "instId": pair, "uly": "", "instFamily": "",
                             "baseCcy": base, "quoteCcy": quote, "settleCcy": "",
                             "ctVal": "", "ctMult": "", "ctValCcy": "", "ctType": "",
                             "lever": "10", "lotSz": _text(SPOT_LOT),
                             "minSz": _text(SPOT_LOT * 10), "tickSz": "0.1"})
        return ok(rows)

    async def _time(self, request: web.Request) -> web.Response:
        return ok([{"ts": str(_now())}])

    async def _currencies(self, request: web.Request) -> web.Response:
        return ok([])

    async def _balance(self, request: web.Request) -> web.Response:
        upl = sum((self._upl(inst, pos, entry) for inst, (pos, entry)
                   in self.positions.items()), ZERO)
        details = [{"ccy": "USDT", "eq": _text(self.cash + upl), "cashBal": _text(self.cash),
                    "availEq": _text(self.cash), "availBal": _text(self.cash),
                    "frozenBal": "0", "upl": _text(upl), "uTime": str(_now())}]
        details += [{"ccy": coin, "eq": _text(amount), "cashBal": _text(amount),
                     "availEq": _text(amount), "availBal": _text(amount), "frozenBal": "0",
                     "upl": "0", "uTime": str(_now())}
                    for coin, amount in self.coins.items() if amount]
        return ok([{"uTime": str(_now()), "totalEq": _text(self.cash + upl),
                    "details": details}])

    async def _positions(self, request: web.Request) -> web.Response:
        wanted = request.query.get("instId")
        rows = [{"instId": inst, "instType": "SWAP", "posSide": "net", "pos": _text(pos),
                 "avgPx": _text(entry), "markPx": _text(self.prices[underlying(inst)]),
                 "upl": _text(self._upl(inst, pos, entry)),
                 "lever": self.leverage.get(inst, ("10", "cross"))[0],
                 "mgnMode": self.leverage.get(inst, ("10", "cross"))[1],
                 "notionalUsd": _text(abs(pos) * self.contract_value(inst)
                                      * self.prices[underlying(inst)]),
                 "imr": "0", "mmr": "0", "margin": "", "liqPx": "", "posId": inst,
                 "cTime": str(_now()), "uTime": str(_now())}
                for inst, (pos, entry) in self.positions.items()
                if not wanted or inst in wanted.split(",")]
        return ok(rows)

    async def _set_leverage(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if body.get("mgnMode") not in ("cross", "isolated"):
            raise OkxError("51000", "Parameter mgnMode error")
        self.leverage[body["instId"]] = (str(body["lever"]), body["mgnMode"])
        return ok([{"instId": body["instId"], "lever": str(body["lever"]),
                    "mgnMode": body["mgnMode"], "posSide": body.get("posSide", "net")}])

    # -- orders -----------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        body = request[BODY]
        algo = request.path.endswith("-algo")
        client_id = str(body.get("algoClOrdId" if algo else "clOrdId") or "")
        if not client_id or not client_id.isalnum() or len(client_id) > 32:
            raise OkxError("51000", "Parameter clOrdId error")
        if client_id in self.orders:
            raise OkxError("51016", "Duplicated clOrdId")
        inst = str(body["instId"])
        swap = inst.endswith("-SWAP")
        size = Decimal(str(body["sz"]))
        lot = SWAPS[underlying(inst)][1] if swap else SPOT_LOT
        if size <= 0 or size % lot != 0:
            raise OkxError("51121", "Order quantity must be a multiple of the lot size")
        if body.get("tdMode") not in (("cross", "isolated") if swap else ("cash",)):
            raise OkxError("51000", "Parameter tdMode error")
        trigger = Decimal(str(body.get("triggerPx") or 0))
        order: dict[str, Any] = {
            "ordId": str(next(self._ids)), "clOrdId": client_id,
            "algoId": str(next(self._ids)) if algo else "",
            "algoClOrdId": client_id if algo else "", "instId": inst,
            "instType": "SWAP" if swap else "SPOT", "side": body["side"],
            "ordType": body["ordType"], "sz": size,
            "px": Decimal(str(body.get("px") or 0)), "triggerPx": trigger,
            "reduceOnly": body.get("reduceOnly") in (True, "true"),
            "tdMode": body.get("tdMode"), "state": "live", "accFillSz": ZERO,
            "avgPx": ZERO, "fee": ZERO, "cTime": str(_now()), "uTime": str(_now()),
            "fillTime": "",
        }
        if order["reduceOnly"]:
            held = self.positions.get(inst, (ZERO, ZERO))[0]
            if not swap or held == 0 or (held > 0) == (order["side"] == "buy"):
                raise OkxError("51169", "Order failed because you don't have any positions "
                               "in this direction for this contract to reduce or close.")
        if not swap and order["side"] == "sell" and not trigger \
                and self.coins.get(inst.split("-")[0], ZERO) < size:
            raise OkxError("51008", "Order failed. Insufficient balance.")
        self.orders[client_id] = order
        self.created.append(body)
        if (order["ordType"] == "market") or self._crosses(order):
            self._fill(order)
        if algo:
            return ok([{"algoId": order["algoId"], "algoClOrdId": client_id, "clOrdId": "",
                        "sCode": "0", "sMsg": "", "tag": ""}])
        return ok([{"ordId": order["ordId"], "clOrdId": client_id, "sCode": "0",
                    "sMsg": "Order placed", "tag": "", "ts": str(_now())}])

    async def _order(self, request: web.Request) -> web.Response:
        algo = request.path.endswith("-algo")
        query = request.query
        client_id = query.get("algoClOrdId" if algo else "clOrdId", "")
        found = self.orders.get(client_id)
        if found is None or bool(found["algoId"]) != algo \
                or found["instId"] != query.get("instId"):
            raise OkxError("51603", "Order does not exist")
        return ok([self._view(found)])

    async def _pending(self, request: web.Request) -> web.Response:
        algo = "algo" in request.path
        kind = request.query.get("instType")
        self.listings.append((request.path.rpartition("/")[2], kind or ""))
        rows = [self._view(o) for o in self.orders.values()
                if o["state"] in OPEN and bool(o["algoId"]) == algo
                and (not kind or o["instType"] == kind)]
        return ok(rows)

    async def _cancel(self, request: web.Request) -> web.Response:
        algo = request.path.endswith("algos")
        items = request[BODY] if algo else [request[BODY]]
        answers = []
        for item in items:
            key = "algoClOrdId" if algo else "clOrdId"
            order = self.orders.get(str(item.get(key))) or next(
                (o for o in self.orders.values()
                 if o["algoId" if algo else "ordId"] == item.get("algoId" if algo
                                                                 else "ordId")), None)
            if order is None:
                raise OkxError("51400", "Order cancellation failed as the order has been "
                               "filled, canceled or does not exist")
            if order["state"] not in OPEN:
                raise OkxError("51402" if order["state"] in ("filled", "effective")
                               else "51401", "Order cancellation failed: order ended")
            order["state"] = "canceled"
            order["uTime"] = str(_now())
            answers.append({"ordId": order["ordId"], "clOrdId": order["clOrdId"],
                            "algoId": order["algoId"], "sCode": "0", "sMsg": ""})
        return ok(answers)

    def _view(self, order: dict[str, Any]) -> dict[str, Any]:
        view = {key: (_text(value) if isinstance(value, Decimal) else value)
                for key, value in order.items()}
        view["reduceOnly"] = "true" if order["reduceOnly"] else "false"
        view["fee"] = _text(-order["fee"])
        view["feeCcy"] = "USDT"
        view["posSide"] = "net"
        view["ctVal"] = _text(self.contract_value(order["instId"]))
        view["px"] = _text(order["px"]) if order["px"] else ""
        view["avgPx"] = _text(order["avgPx"]) if order["accFillSz"] else ""
        if order["algoId"]:  # an algo order: its own fields, the triggered order's fill
            view["ordPx"] = "-1"
            view["triggerPx"] = _text(order["triggerPx"])
            view["triggerPxType"] = "last"
            view["actualSz"] = _text(order["accFillSz"]) if order["accFillSz"] else ""
            view["actualPx"] = view["avgPx"]
            view["actualSide"] = order["side"] if order["accFillSz"] else ""
            for hidden in ("accFillSz", "avgPx", "px", "fillTime"):
                view.pop(hidden)
        else:
            view["triggerPx"] = ""
        return view

    def _upl(self, inst: str, pos: Decimal, entry: Decimal) -> Decimal:
        return pos * self.contract_value(inst) * (self.prices[underlying(inst)] - entry)

    def _crosses(self, order: dict[str, Any]) -> bool:
        price = self.prices[underlying(order["instId"])]
        buy = order["side"] == "buy"
        if order["triggerPx"]:
            trigger = order["triggerPx"]
            return price >= trigger if buy else price <= trigger
        if order["ordType"] == "limit":
            return price <= order["px"] if buy else price >= order["px"]
        return False

    def _fill(self, order: dict[str, Any]) -> None:
        limit = order["ordType"] == "limit"
        price = order["px"] if limit else self.prices[underlying(order["instId"])]
        self._execute(order, order["sz"] - order["accFillSz"], price)
        order["state"] = "effective" if order["algoId"] else "filled"

    def _execute(self, order: dict[str, Any], size: Decimal, price: Decimal) -> None:
        inst = order["instId"]
        sign = 1 if order["side"] == "buy" else -1
        value = self.contract_value(inst)
        if order["instType"] == "SPOT":
            coin = inst.split("-")[0]
            self.coins[coin] = self.coins.get(coin, ZERO) + sign * size
            self.cash -= sign * size * price
        else:
            held, entry = self.positions.get(inst, (ZERO, ZERO))
            if order["reduceOnly"]:
                size = min(size, abs(held))
            after = held + sign * size
            if held != 0 and (held > 0) != (sign > 0):
                self.cash += min(size, abs(held)) * value * (price - entry) * \
                    (1 if held > 0 else -1)
            if after == 0:
                self.positions.pop(inst, None)
            elif held == 0 or (held > 0) == (sign > 0):
                self.positions[inst] = (after, (abs(held) * entry + size * price) / abs(after))
            elif (after > 0) != (held > 0):
                self.positions[inst] = (after, price)
            else:
                self.positions[inst] = (after, entry)
        done = order["accFillSz"]
        if size > 0:
            order["avgPx"] = (done * order["avgPx"] + size * price) / (done + size)
            order["accFillSz"] = done + size
            order["fee"] += size * value * price * Decimal("0.0005")
            order["fillTime"] = str(_now())
        order["uTime"] = str(_now())


def _now() -> int:
    return int(time.time() * 1000)
