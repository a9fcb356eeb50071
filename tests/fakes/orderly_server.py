"""A fake Orderly Network (EVM REST API ``/v1``) on 127.0.0.1, as ccxt's ``woofipro``
class speaks it.

Every private request must carry ``orderly-account-id``, ``orderly-key``
(``ed25519:<base58 public key>``), ``orderly-timestamp`` and ``orderly-signature``:
the base64url ed25519 signature of ``timestamp + METHOD + path?query + body`` made
with the key's private half. It serves the perpetual markets (``/v1/public/info``),
holdings, positions, orders by ``client_order_id`` (regular and algo/stop), open
orders, leverage and margin mode. Market orders fill at ``set_price``; limit and stop
orders rest until the price crosses them; reduce-only orders never grow a position.
Faults as the Alpaca fake (:mod:`fakes.venue_faults`).
"""

from __future__ import annotations

import base64
import json
import time
from decimal import Decimal
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fakes.venue import FakeVenue, Refusal

ACCOUNT_ID = "0x5f2c0d3e7a9b4c1d8e6f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"
STEP, TICK, MIN_QTY, MIN_NOTIONAL = Decimal("0.0001"), Decimal("0.1"), Decimal("0.0001"), \
    Decimal(10)
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
OPEN = ("NEW", "PARTIAL_FILLED")


def base58(raw: bytes) -> str:
    """Bitcoin-alphabet base58, as Orderly spells its ed25519 keys."""
    number = int.from_bytes(raw, "big")
    out = ""
    while number:
        number, digit = divmod(number, 58)
        out = _B58[digit] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def new_orderly_key(seed: bytes | None = None) -> tuple[str, str]:
    """A fresh Orderly key (or the one of ``seed``, 32 bytes):
    ``("ed25519:<public>", "<private seed>")`` in base58."""
    private = (Ed25519PrivateKey.generate() if seed is None
               else Ed25519PrivateKey.from_private_bytes(seed))
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return f"ed25519:{base58(public)}", base58(seed)


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + _B58.index(char)
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + raw


def error(status: int, message: str, code: int = -1012) -> web.Response:
    if status >= 500:  # a gateway's page
        return web.Response(status=status, text=f"<html>{status} {message}</html>",
                            content_type="text/html")
    if status == 429:
        code, message = -1003, "Rate limit exceed."
    return web.json_response({"success": False, "code": code, "message": message},
                             status=status)


def ok(data: Any) -> web.Response:
    return web.json_response({"success": True, "timestamp": _now(), "data": data})


class OrderlyError(Refusal):
    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def answer(self) -> web.Response:
        return error(self.status, self.message, self.code)


def _num(value: Decimal) -> float:
    return float(value)


class FakeOrderly(FakeVenue):
    """One Orderly account (USDC collateral, perpetual positions)."""

    def __init__(self, account_id: str = ACCOUNT_ID, hang_seconds: float = 2.0,
                 seed: bytes | None = None) -> None:
        super().__init__(error, hang_seconds, first_id=5000)
        self.account_id = account_id
        self.key, self.secret = new_orderly_key(seed)
        self._public = Ed25519PublicKey.from_public_bytes(
            _b58decode(self.key.removeprefix("ed25519:")))
        self.holding = Decimal(10_000)
        self.prices: dict[str, Decimal] = {"PERP_BTC_USDC": Decimal(60000),
                                           "PERP_ETH_USDC": Decimal(3000)}
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}
        self.leverage: int | None = None
        self.margin_modes: dict[str, str] = {}
        self.orders: dict[str, dict[str, Any]] = {}  # by client_order_id (both books)
        self.created: list[dict[str, Any]] = []  # bodies of every order created
        self.signed_requests = 0

    def route(self, routes: web.UrlDispatcher) -> None:
        routes.add_get("/v1/public/info", self._info)
        routes.add_get("/v1/public/token", self._tokens)
        routes.add_get("/v1/public/chain_info", self._chains)
        routes.add_get("/v1/client/holding", self._holding)
        routes.add_get("/v1/positions", self._positions)
        routes.add_post("/v1/client/leverage", self._set_leverage)
        routes.add_post("/v1/client/margin_mode", self._set_margin_mode)
        routes.add_post("/v1/order", self._create(algo=False))
        routes.add_post("/v1/algo/order", self._create(algo=True))
        routes.add_get("/v1/client/order/{cid}", self._get(algo=False))
        routes.add_get("/v1/algo/client/order/{cid}", self._get(algo=True))
        routes.add_delete("/v1/client/order", self._cancel(algo=False))
        routes.add_delete("/v1/algo/client/order", self._cancel(algo=True))
        routes.add_get("/v1/orders", self._list(algo=False))
        routes.add_get("/v1/algo/orders", self._list(algo=True))

    # -- control ------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal | str | int) -> None:
        """The mark price of ``symbol`` (``PERP_BTC_USDC``); resting orders it crosses
        fill."""
        self.prices[symbol] = Decimal(price)
        for order in list(self.orders.values()):
            if order["symbol"] == symbol and order["status"] in OPEN and self._crosses(order):
                self._fill(order)

    def placements(self, client_order_id: str) -> int:
        return sum(1 for body in self.created if body.get("client_order_id") == client_order_id)

    def fill_partially(self, client_order_id: str, quantity: Decimal) -> None:
        order = self.orders[client_order_id]
        self._execute(order, quantity, self.prices[order["symbol"]])
        order["status"] = "PARTIAL_FILLED"

    # -- ed25519 signature --------------------------------------------------------------

    async def refuse(self, request: web.Request) -> web.Response | None:
        if request.path.startswith("/v1/public/"):
            return None
        headers = request.headers
        if headers.get("orderly-account-id") != self.account_id:
            return error(401, "account id and orderly key do not match", -1002)
        if headers.get("orderly-key") != self.key:
            return error(401, "orderly key is not registered", -1002)
        stamp = headers.get("orderly-timestamp", "")
        if not stamp.isdigit() or abs(int(stamp) - _now()) > 300_000:
            return error(400, "Timestamp expired", 2)
        body = await request.text()
        message = f"{stamp}{request.method}{request.raw_path}{body}".encode()
        signature = headers.get("orderly-signature", "")
        try:
            padded = signature + "=" * (-len(signature) % 4)
            self._public.verify(base64.urlsafe_b64decode(padded), message)
        except (InvalidSignature, ValueError):
            return error(401, "Signature error", 3)
        self.signed_requests += 1
        return None

    # -- markets, account ------------------------------------------------------------

    async def _info(self, request: web.Request) -> web.Response:
        rows = [{"symbol": symbol, "quote_min": 0, "quote_max": 1_000_000,
                 "quote_tick": _num(TICK), "base_min": _num(MIN_QTY), "base_max": 100,
                 "base_tick": _num(STEP), "min_notional": _num(MIN_NOTIONAL),
                 "price_range": 0.02, "created_time": 1684140107326,
                 "updated_time": 1685345968053, "base_imr": 0.1, "base_mmr": 0.05}
                for symbol in self.prices]
        return ok({"rows": rows})

    async def _tokens(self, request: web.Request) -> web.Response:
        return ok({"rows": [{"token": "USDC", "decimals": 6, "minimum_withdraw_amount": 1,
                             "chain_details": [{"chain_id": "42161", "decimals": 6,
                                                "withdrawal_fee": 1}]}]})

    async def _chains(self, request: web.Request) -> web.Response:
        return ok({"rows": [{"name": "Arbitrum", "chain_id": "42161"}]})

    async def _holding(self, request: web.Request) -> web.Response:
        return ok({"holding": [{"token": "USDC", "holding": _num(self.holding), "frozen": 0,
                                "pending_short": 0, "updated_time": _now()}]})

    async def _positions(self, request: web.Request) -> web.Response:
        rows = [{"symbol": symbol, "position_qty": _num(quantity),
                 "average_open_price": _num(entry), "mark_price": _num(self.prices[symbol]),
                 "unsettled_pnl": _num(quantity * (self.prices[symbol] - entry)),
                 "cost_position": _num(quantity * entry), "timestamp": _now()}
                for symbol, (quantity, entry) in self.positions.items()]
        return ok({"rows": rows})

    async def _set_leverage(self, request: web.Request) -> web.Response:
        self.leverage = int(json.loads(await request.text())["leverage"])
        return ok({})

    async def _set_margin_mode(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text())
        self.margin_modes[str(body["symbol"])] = str(body["default_margin_mode"]).lower()
        return ok({})

    # -- orders -----------------------------------------------------------------------

    def _create(self, algo: bool) -> Any:
        async def handler(request: web.Request) -> web.Response:
            body = json.loads(await request.text())
            client_id = str(body.get("client_order_id") or f"auto{next(self._ids)}")
            if client_id in self.orders:
                raise OrderlyError(-1007, "client_order_id already exists")
            symbol = body["symbol"]
            quantity = Decimal(str(body.get("quantity" if algo else "order_quantity")))
            price = body.get("price" if algo else "order_price")
            if quantity % STEP != 0 or quantity < MIN_QTY:
                raise OrderlyError(-1104, "quantity does not follow the step size")
            kind = str(body.get("type" if algo else "order_type"))
            order: dict[str, Any] = {
                "order_id": next(self._ids), "client_order_id": client_id, "symbol": symbol,
                "side": body["side"], "type": kind, "quantity": quantity,
                "price": Decimal(str(price)) if price is not None else None,
                "trigger_price": Decimal(str(body["trigger_price"]))
                if body.get("trigger_price") is not None else None,
                "reduce_only": bool(body.get("reduce_only")), "algo": algo,
                "status": "NEW", "executed": Decimal(0), "average": Decimal(0),
                "fee": Decimal(0), "created_time": _now(), "updated_time": _now(),
            }
            if order["reduce_only"]:
                held = self.positions.get(symbol, (Decimal(0), Decimal(0)))[0]
                if held == 0 or (held > 0) == (order["side"] == "BUY"):
                    raise OrderlyError(-1012, "reduce only order would increase the position")
            self.orders[client_id] = order
            self.created.append(body)
            if (kind == "MARKET" and not algo) or self._crosses(order):
                self._fill(order)
            if algo:
                return ok({"rows": [{"order_id": order["order_id"],
                                     "client_order_id": client_id,
                                     "algo_type": body.get("algo_type"),
                                     "quantity": _num(quantity)}]})
            return ok({"order_id": order["order_id"], "client_order_id": client_id,
                       "order_type": kind, "order_price": price,
                       "order_quantity": _num(quantity)})
        return handler

    def _find(self, client_id: str, algo: bool) -> dict[str, Any]:
        order = self.orders.get(client_id)
        if order is None or order["algo"] != algo:
            raise OrderlyError(-1006, "Your order and symbol are not valid or already canceled.")
        return order

    def _get(self, algo: bool) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return ok(self._view(self._find(request.match_info["cid"], algo)))
        return handler

    def _cancel(self, algo: bool) -> Any:
        async def handler(request: web.Request) -> web.Response:
            order = self._find(request.query.get("client_order_id", ""), algo)
            if order["status"] not in OPEN:
                raise OrderlyError(-1006, "The order is already filled or canceled.")
            order["status"] = "CANCELLED"
            return ok({"status": "CANCEL_SENT"})
        return handler

    def _list(self, algo: bool) -> Any:
        async def handler(request: web.Request) -> web.Response:
            wanted = request.query.get("status")
            rows = [self._view(o) for o in self.orders.values() if o["algo"] == algo
                    and (wanted != "INCOMPLETE" or o["status"] in OPEN)]
            return ok({"rows": rows, "meta": {"total": len(rows)}})
        return handler

    def _view(self, order: dict[str, Any]) -> dict[str, Any]:
        view: dict[str, Any] = {
            "symbol": order["symbol"], "side": order["side"], "status": order["status"],
            "reduce_only": order["reduce_only"], "total_fee": _num(order["fee"]),
            "fee_asset": "USDC",
        }
        if order["algo"]:  # algo orders come back camel-cased
            view.update({"algoOrderId": order["order_id"],
                         "clientOrderId": order["client_order_id"], "algoType": "STOP",
                         "type": order["type"], "quantity": _num(order["quantity"]),
                         "triggerPrice": _num(order["trigger_price"] or Decimal(0)),
                         "algoStatus": order["status"],
                         "totalExecutedQuantity": _num(order["executed"]),
                         "averageExecutedPrice": _num(order["average"]),
                         "reduceOnly": order["reduce_only"], "createdTime": order["created_time"],
                         "updatedTime": order["updated_time"]})
            view.pop("status")
            return view
        view.update({"order_id": order["order_id"], "client_order_id": order["client_order_id"],
                     "type": order["type"], "quantity": _num(order["quantity"]),
                     "price": _num(order["price"]) if order["price"] is not None else None,
                     "executed": _num(order["executed"]),
                     "total_executed_quantity": _num(order["executed"]),
                     "average_executed_price": _num(order["average"]),
                     "created_time": order["created_time"],
                     "updated_time": order["updated_time"]})
        return view

    def _crosses(self, order: dict[str, Any]) -> bool:
        price = self.prices[order["symbol"]]
        buy = order["side"] == "BUY"
        if order["trigger_price"] is not None:
            trigger = order["trigger_price"]
            return price >= trigger if buy else price <= trigger
        if order["type"] == "LIMIT" and order["price"] is not None:
            return price <= order["price"] if buy else price >= order["price"]
        return False

    def _fill(self, order: dict[str, Any]) -> None:
        price = order["price"] if order["type"] == "LIMIT" and order["price"] is not None \
            and order["trigger_price"] is None else self.prices[order["symbol"]]
        self._execute(order, order["quantity"] - order["executed"], price)
        order["status"] = "FILLED"

    def _execute(self, order: dict[str, Any], quantity: Decimal, price: Decimal) -> None:
        sign = 1 if order["side"] == "BUY" else -1
        held, entry = self.positions.get(order["symbol"], (Decimal(0), Decimal(0)))
        if order["reduce_only"]:
            quantity = min(quantity, abs(held))
        after = held + sign * quantity
        if held != 0 and (held > 0) != (sign > 0):
            self.holding += min(quantity, abs(held)) * (price - entry) * (1 if held > 0 else -1)
        if after == 0:
            self.positions.pop(order["symbol"], None)
        elif held == 0 or (held > 0) == (sign > 0):
            self.positions[order["symbol"]] = (after, (abs(held) * entry + quantity * price)
                                               / abs(after))
        elif (after > 0) != (held > 0):
            self.positions[order["symbol"]] = (after, price)
        else:
            self.positions[order["symbol"]] = (after, entry)
        fee = quantity * price * Decimal("0.0005")
        self.holding -= fee
        done = order["executed"]
        if quantity > 0:
            order["average"] = (done * order["average"] + quantity * price) / (done + quantity)
            order["executed"] = done + quantity
            order["fee"] += fee
        order["updated_time"] = _now()


def _now() -> int:
    return int(time.time() * 1000)
