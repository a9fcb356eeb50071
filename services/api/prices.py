"""``POST /api/v1/prices``: market prices for the paper broker (feeds and tests)."""

from __future__ import annotations

from decimal import Decimal

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.market import MAX_PRICE, PriceTick, encode_tick
from contracts.subjects import price_subject
from domain.symbols import normalise_symbol
from libs.http.problems import Problem, invalid, unavailable
from libs.runtime.bus import is_bus_error
from services.api.admin_auth import require_key
from services.api.context import CONTEXT, ApiContext


class PriceIn(BaseModel):
    """One observed price."""

    model_config = ConfigDict(extra="forbid")
    symbol: str = Field(min_length=1, max_length=40)
    # Finite, above 0 and below 10^12: "1e400" or "NaN" would poison every account's
    # equity and the orders sized from it.
    price: Decimal = Field(gt=0, lt=MAX_PRICE, allow_inf_nan=False)


class PricesIn(BaseModel):
    """One price, or several under ``prices``."""

    model_config = ConfigDict(extra="forbid")
    prices: list[PriceIn] = Field(min_length=1, max_length=1000)


def _parse(raw: bytes) -> list[PriceIn]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc
    try:
        if isinstance(data, dict) and "prices" in data:
            return PricesIn.model_validate(data).prices
        return [PriceIn.model_validate(data)]
    except ValidationError as exc:
        raise invalid(exc) from exc


async def post_prices(request: web.Request) -> web.Response:
    """Publish each price on ``market.price.<symbol>``; resting paper orders react."""
    key = await require_key(request, write=True)
    if key.tenant_id:  # prices move every tenant's paper accounts
        raise Problem(403, "forbidden", "only a global admin key posts market prices")
    ctx: ApiContext = request.app[CONTEXT]
    if request.content_type != "application/json":
        raise Problem(415, "unsupported_media_type", "send application/json")
    prices = _parse(await request.read())
    now = ctx.clock.now()
    try:
        for item in prices:
            symbol = normalise_symbol(item.symbol, "paper")
            tick = PriceTick(symbol=symbol, price=item.price, observed_at=now)
            await ctx.bus.js.publish(price_subject(symbol), encode_tick(tick), timeout=2.0)
    except Exception as exc:
        if is_bus_error(exc):
            raise unavailable("the event bus is unavailable; retry") from exc
        raise
    return web.json_response({"accepted": len(prices)}, status=202)
