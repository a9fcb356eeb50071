"""Small helpers for posting alerts in end-to-end tests."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from services.ingress.auth.signatures import sign


def tv_alert(symbol: str = "AAPL", order_id: str = "long", action: str = "buy",
             contracts: str = "1", price: str = "100.00", **extra: Any) -> dict[str, Any]:
    """A TradingView strategy alert as its placeholders render."""
    return {"symbol": symbol, "strategy_order_id": order_id, "strategy_order_action": action,
            "strategy_order_contracts": contracts, "strategy_order_price": price, **extra}


async def post_json(session: aiohttp.ClientSession, url: str, body: Any,
                    **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with session.post(url, json=body, **kwargs) as resp:
        return resp.status, await resp.json()


async def post_once_known(session: aiohttp.ClientSession, url: str,
                          body: Any) -> dict[str, Any]:
    """Post ``body`` until ingress accepts it (202) and return the answer: a strategy
    made through the API a moment ago reaches ingress through its registry watch."""
    from harness import wait_until

    accepted: dict[str, Any] = {}

    async def known() -> bool:
        nonlocal accepted
        status, accepted = await post_json(session, url, body)
        return status == 202
    await wait_until(known, timeout=20, message="ingress to take the new strategy")
    return accepted


async def orders_forgotten(bus: Any, account_id: str) -> None:
    """Wait until the executor remembers no resting order of the account (its order
    sync stops asking the account's broker: a test's fake venue may go away)."""
    from harness import wait_until

    from contracts import streams
    from services.executor.open_orders import OpenOrders

    resting = OpenOrders(await bus.kv(streams.BUCKET_OPEN_ORDERS))

    async def forgotten() -> bool:
        return not [o for o in await resting.all() if o.account_id == account_id]
    await wait_until(forgotten, timeout=20, message="the executor to forget the legs")


async def post_raw(session: aiohttp.ClientSession, url: str, data: bytes,
                   content_type: str, headers: dict[str, str] | None = None
                   ) -> tuple[int, dict[str, Any]]:
    all_headers = {"Content-Type": content_type, **(headers or {})}
    async with session.post(url, data=data, headers=all_headers) as resp:
        return resp.status, await resp.json()


def signed_headers(secret: str, body: bytes, webhook_id: str,
                   timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": webhook_id, "webhook-timestamp": str(ts),
            "webhook-signature": sign(secret, webhook_id, ts, body),
            "Content-Type": "application/json"}


async def post_prices(session: aiohttp.ClientSession, api_url: str, body: Any,
                      admin_key: str) -> int:
    """``POST /api/v1/prices`` with a global admin key; returns the status."""
    async with session.post(f"{api_url}/api/v1/prices", json=body,
                            headers={"X-API-Key": admin_key}) as resp:
        return resp.status


async def refused_once_switched_off(session: aiohttp.ClientSession, url: str, tap: Any,
                                    code: str, timeout: float = 10.0) -> None:
    """After an operator switched a strategy, account or tenant off: until ingress's
    cache has the change (the operator service is another process: it arrives through
    the registry watch, milliseconds on a quiet machine) an alert may still be
    accepted, but then the validator's fresh read refuses it with ``code`` (never a
    trade); soon ingress answers 403 ``code`` itself."""
    deadline = time.monotonic() + timeout
    price = 11
    while True:
        status, answer = await post_json(session, url, tv_alert(price=str(price)))
        if status == 403:
            assert answer["error"] == code, answer
            return
        assert status == 202, answer
        failed = await tap.wait_terminal(answer["signal_id"])
        assert (type(failed).__name__, failed.code) == ("WebhookFailed", code), failed
        assert time.monotonic() < deadline, f"ingress still accepts after {timeout} s"
        price += 1
