"""Hostile bodies against a live ingress: a specific 4xx (or 202 + webhook.failed),
never a 5xx, never a hang.

Requests go over raw sockets where the client must control the bytes (a body that
never ends, undecodable header bytes); aiohttp's client is used for the rest.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
import pytest
from e2e.helpers import post_raw
from fuzz.live import Live

from contracts.events import WebhookFailed

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

TEN_MB = 10 * 1024 * 1024
# TradingView cancels a webhook after 3 s: every answer must come sooner.
TRADINGVIEW_BUDGET_S = 3.0


def exchange_alert(**fields: Any) -> dict[str, Any]:
    """A unique exchange-style market buy (unique so de-duplication stays out of it)."""
    return {"alertId": uuid.uuid4().hex, "action": "buy", "symbol": "AAPL",
            "quantity": "1", "price": "100", **fields}


async def raw_exchange(live: Live, head: bytes, body_parts: list[bytes] | None = None,
                       pause_s: float = 0.0, timeout_s: float = 10.0
                       ) -> tuple[int, dict[str, Any], float]:
    """Send ``head`` then ``body_parts`` (``pause_s`` apart) and read the answer.

    Returns the status, the JSON body and the seconds from the first byte to the
    answer. Sending stops as soon as the answer arrives: a server that answers early
    must not depend on the client finishing.
    """
    url = urlsplit(live.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    started = time.perf_counter()

    async def send() -> None:
        writer.write(head)
        for part in body_parts or []:
            await writer.drain()
            if pause_s:
                await asyncio.sleep(pause_s)  # the trickle itself, not a synchronisation
            writer.write(part)
        await writer.drain()

    sender = asyncio.create_task(send())
    try:
        async with asyncio.timeout(timeout_s):
            status_line = await reader.readline()
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers["content-length"]))
        elapsed = time.perf_counter() - started
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        writer.close()
    return int(status_line.split()[1]), orjson.loads(body), elapsed


def request_head(live: Live, extra: bytes = b"", length: int | None = None,
                 content_type: bytes = b"application/json") -> bytes:
    url = urlsplit(live.url)
    framing = (b"Transfer-Encoding: chunked\r\n" if length is None
               else b"Content-Length: %d\r\n" % length)
    return (b"POST " + f"{url.path}?{url.query}".encode() + b" HTTP/1.1\r\n"
            b"Host: " + url.netloc.encode() + b"\r\n"
            b"Content-Type: " + content_type + b"\r\n" + framing + extra + b"\r\n")


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def assert_problem(status: int, body: dict[str, Any], expected_status: int, code: str
                   ) -> None:
    assert (status, body.get("error")) == (expected_status, code), body
    assert isinstance(body.get("message"), str) and body["message"]


# --- size and time ----------------------------------------------------------------------


async def test_a_declared_10mb_body_is_refused_before_it_is_sent(live: Live) -> None:
    # Only the headers are sent: an answer at all means not one body byte was needed.
    status, body, _ = await raw_exchange(live, request_head(live, length=TEN_MB))

    assert_problem(status, body, 413, "body_too_large")


async def test_a_chunked_10mb_body_is_cut_off_at_the_limit(live: Live) -> None:
    parts = [chunk(b"x" * 65_536)] * (TEN_MB // 65_536) + [b"0\r\n\r\n"]

    status, body, elapsed = await raw_exchange(live, request_head(live), parts)

    assert_problem(status, body, 413, "body_too_large")
    assert elapsed < TRADINGVIEW_BUDGET_S


async def test_a_body_trickled_a_byte_at_a_time_is_cut_off_by_the_read_deadline(
        live: Live) -> None:
    payload = orjson.dumps(exchange_alert())
    parts = [payload[i:i + 1] for i in range(len(payload))]

    status, body, elapsed = await raw_exchange(live, request_head(live, length=len(payload)),
                                               parts, pause_s=0.05)

    assert_problem(status, body, 408, "body_timeout")
    assert 1.5 < elapsed < TRADINGVIEW_BUDGET_S


# --- what the body says -----------------------------------------------------------------


@pytest.mark.parametrize(("raw", "status", "code"), [
    (b"[" * 100_000, 413, "body_too_large"),
    (b"[" * 60_000, 400, "malformed_json"),
    (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, 400, "malformed_json"),
    (b'{"alertId": "n", "action": "buy", "symbol": "AAPL", "quantity": NaN}', 400,
     "malformed_json"),
    (b'{"alertId": "i", "action": "buy", "symbol": "AAPL", "quantity": Infinity}', 400,
     "malformed_json"),
    (b'{"alertId": "m", "action": "buy", "symbol": "AAPL", "quantity": -Infinity}', 400,
     "malformed_json"),
    (b'{"alertId": "e", "action": "buy", "symbol": "AAPL", "quantity": 1e400}', 400,
     "malformed_json"),
    (b'{"alertId": "d", "action": "buy", "action": "sell", "symbol": "AAPL"}', 422,
     "duplicate_field"),
    (b'{"alertId": "d2", "action": "buy", "symbol": "AAPL", "meta": {"a": 1, "a": 2}}', 422,
     "duplicate_field"),
])
async def test_hostile_json_gets_a_specific_4xx(live: Live, raw: bytes, status: int,
                                               code: str) -> None:
    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        got_status, body = await post_raw(http, live.url, raw, "application/json")

    assert_problem(got_status, body, status, code)
    assert time.perf_counter() - started < TRADINGVIEW_BUDGET_S


@pytest.mark.parametrize(("fields", "field"), [
    ({"quantity": "0"}, "quantity"),
    ({"quantity": "-3"}, "quantity"),
    ({"quantity": -0.0}, "quantity"),
    ({"quantity": "1e400"}, "quantity"),
    ({"quantity": "\u0661\u0662"}, "quantity"),  # Arabic-Indic digits
    ({"price": "1e-400", "orderType": "limit"}, "price"),
    ({"symbol": "\u0410APL"}, "symbol"),  # Cyrillic A
    ({"symbol": "AAPL\u202e"}, "symbol"),  # right-to-left override
    ({"symbol": "\u202eLPAA"}, "symbol"),
    ({"symbol": "AA\u200bPL"}, "symbol"),  # zero-width space
])
async def test_bad_values_are_422_naming_the_field(live: Live, fields: dict[str, Any],
                                                   field: str) -> None:
    async with aiohttp.ClientSession() as http:
        status, body = await post_raw(http, live.url, orjson.dumps(exchange_alert(**fields)),
                                      "application/json")

    assert_problem(status, body, 422, "invalid_field")
    assert body["field"] == field


@pytest.mark.parametrize(("text", "status", "code"), [
    (b"alertId=t1\naction=buy\nsymbol=AAPL\nquantity=NaN", 422, "invalid_field"),
    (b"alertId=t2\naction=buy\naction=sell\nsymbol=AAPL", 422, "duplicate_field"),
    (b'{"alertId": "t3", "action": "buy", "symbol": "AAPL", "quantity": NaN}', 400,
     "malformed_json"),
    (b"\xff\xfe" + "symbol=AAPL".encode("utf-16-le"), 400, "bad_encoding"),
])
async def test_hostile_text_plain_gets_a_specific_4xx(live: Live, text: bytes, status: int,
                                                     code: str) -> None:
    async with aiohttp.ClientSession() as http:
        got_status, body = await post_raw(http, live.url, text, "text/plain")

    assert_problem(got_status, body, status, code)


# --- hostile credentials ----------------------------------------------------------------


@pytest.mark.parametrize("header", [
    b"X-API-Key: key-\xff\xfe\r\n",
    b"Authorization: Bearer eyJ\xff.eyJ.\xfe\r\n",
    b"webhook-id: msg_\xff\r\nwebhook-timestamp: 1\r\nwebhook-signature: v1,\xfe\r\n",
    b"webhook-id: msg_1\r\nwebhook-timestamp: 1" + b"0" * 400 + b"\r\n"
    b"webhook-signature: v1,AAAA\r\n",
])
async def test_undecodable_or_absurd_credential_headers_are_401(live: Live, header: bytes
                                                                ) -> None:
    payload = orjson.dumps(exchange_alert())
    # No token in the URL: the header is the only credential.
    head = request_head(live, header, len(payload)).replace(
        f"?token={live.tenancy.strategy.secret}".encode(), b"")

    status, body, _ = await raw_exchange(live, head, [payload])

    assert_problem(status, body, 401, "unauthorized")
    assert live.tenancy.strategy.secret not in body["message"]


# --- accepted, then refused downstream --------------------------------------------------


async def test_an_accepted_alert_the_validator_refuses_ends_in_webhook_failed(
        live: Live) -> None:
    """The strategy has no default symbol, so a strategy-routed alert without one is
    accepted (the body is well-formed) and then fails at the validate stage."""
    alert = {"strategy": live.tenancy.strategy.name, "signal": "BUY",
             "confidence": 0.5, "note": uuid.uuid4().hex}
    async with aiohttp.ClientSession() as http:
        status, body = await post_raw(http, live.url, orjson.dumps(alert), "application/json")
    assert status == 202, body

    failed = await live.tap.wait_terminal(body["signal_id"])

    assert isinstance(failed, WebhookFailed)
    assert (failed.stage, failed.code) == ("validate", "missing_symbol")
    assert failed.reason


async def test_the_ingress_is_still_healthy_after_the_hostile_traffic(live: Live) -> None:
    async with aiohttp.ClientSession() as http:
        status, body = await post_raw(http, live.url, orjson.dumps(exchange_alert()),
                                      "application/json")
    assert status == 202, body
    assert "internal_error" not in live.system.logs()
    live.system.assert_no_tracebacks()  # the whole of every log, not only this test's
