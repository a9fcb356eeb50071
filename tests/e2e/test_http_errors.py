"""Every bad request gets a specific 4xx with ``{"error", "message"}``, never a 5xx."""

from __future__ import annotations

import time
import uuid

import aiohttp
import orjson
import pytest
from e2e.helpers import post_json, post_raw, signed_headers, tv_alert
from harness import EventTap, System, provision

from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]


async def test_each_bad_input_gets_its_status(system: System, bus: Bus) -> None:
    t = await provision(bus)
    base = system.webhook_url(t.strategy, token=False)
    good = f"{base}?token={t.strategy.secret}"
    cases: list[tuple[str, int, str, tuple[bytes, str] | None]] = [
        ("too large", 413, "body_too_large", (b"x" * (64 * 1024 + 1), "text/plain")),
        ("wrong content type", 415, "unsupported_media_type", (b"<a/>", "application/xml")),
        ("malformed json", 400, "malformed_json", (b'{"symbol": ', "application/json")),
        ("not an object", 400, "not_an_object", (b"[1, 2]", "application/json")),
        ("empty", 400, "empty_body", (b"", "application/json")),
        ("garbage text", 400, "unparsable_body", (b"hello there", "text/plain")),
    ]
    async with aiohttp.ClientSession() as http:
        for name, status, code, (data, ctype) in [(c[0], c[1], c[2], c[3]) for c in cases]:
            got_status, body = await post_raw(http, good, data, ctype)
            assert (got_status, body["error"]) == (status, code), name
            assert body["message"], name

        missing = tv_alert()
        del missing["strategy_order_action"]
        status, body = await post_json(http, good, missing)
        assert status == 422
        assert body["error"] == "invalid_field"
        assert "strategy_order_action" in body["message"]

        status, body = await post_json(http, good, tv_alert(price="{{close}}"))
        assert status == 422
        assert "strategy_order_price" in body["message"]

        status, body = await post_json(http, base, tv_alert())
        assert (status, body["error"]) == (401, "unauthorized")
        status, body = await post_json(http, f"{base}?token=whsec_wrong", tv_alert())
        assert (status, body["error"]) == (401, "unauthorized")
        assert "whsec_wrong" not in body["message"]
        status, body = await post_json(http, f"{system.api_url}/webhook",
                                       {**tv_alert(), "token": "nope"})
        assert status == 401

        status, body = await post_json(http, f"{system.operator_url}/api/v1/nowhere", {})
        assert (status, body["error"]) == (404, "not_found")
        async with http.get(good) as resp:
            assert resp.status == 405
            assert (await resp.json())["error"] == "method_not_allowed"


async def test_text_plain_key_value_alert_is_accepted(system: System, bus: Bus,
                                                      tap: EventTap) -> None:
    t = await provision(bus)
    url = system.webhook_url(t.strategy)
    text = ("symbol=MSFT\nstrategy_order_id=long\nstrategy_order_action=buy\n"
            "strategy_order_contracts=1\nstrategy_order_price=400")
    async with aiohttp.ClientSession() as http:
        status, body = await post_raw(http, url, text.encode(), "text/plain")
    assert status == 202, body
    done = await tap.wait_terminal(body["signal_id"])
    assert done.fill.symbol == "MSFT"  # type: ignore[union-attr]


async def test_token_in_body_on_universal_endpoints(system: System, bus: Bus,
                                                    tap: EventTap) -> None:
    t = await provision(bus)
    async with aiohttp.ClientSession() as http:
        for path in ("/webhook", "/api/v1/webhooks/signals"):
            alert = {**tv_alert(price=str(100 + len(path))), "token": t.strategy.secret}
            status, body = await post_json(http, f"{system.api_url}{path}", alert)
            assert status == 202, (path, body)
            await tap.wait_terminal(body["signal_id"])


async def test_standard_webhooks_signature(system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus)
    url = system.webhook_url(t.strategy, token=False)
    raw = orjson.dumps(tv_alert(price="10"))
    msg_id = f"msg_{uuid.uuid4().hex}"
    async with aiohttp.ClientSession() as http:
        ok = await post_raw(http, url, raw, "application/json",
                            signed_headers(t.strategy.secret, raw, msg_id))
        assert ok[0] == 202, ok
        # The same webhook-id again (a sender's retry) is a duplicate, not a new signal.
        again = await post_raw(http, url, raw, "application/json",
                               signed_headers(t.strategy.secret, raw, msg_id))
        assert again == (200, {"signal_id": ok[1]["signal_id"], "status": "duplicate"})
        stale = await post_raw(http, url, raw, "application/json",
                               signed_headers(t.strategy.secret, raw, "msg_stale",
                                              timestamp=int(time.time()) - 301))
        assert stale[0] == 401
        assert "timestamp" in stale[1]["message"]
        tampered = raw.replace(b"10", b"11")
        forged = await post_raw(http, url, tampered, "application/json",
                                signed_headers(t.strategy.secret, raw, "msg_forged"))
        assert forged[0] == 401
        wrong = await post_raw(http, url, raw, "application/json",
                               signed_headers("whsec_" + "A" * 43, raw, "msg_wrong"))
        assert wrong[0] == 401
    await tap.wait_terminal(ok[1]["signal_id"])
    assert len([e for e in tap.of_type("webhook.received") if e.tenant_id == t.tenant.id]) == 1
