"""One callback attempt over real HTTP(S) on loopback: signatures a receiver accepts
(both secrets during a rotation), the test CA trusted only when configured,
redirects not followed, timeouts, and the SSRF guard refusing before any connection
(a literal private address; a name that resolves to loopback)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from callback_receiver import Receiver, callback_ca, verify
from fakes.dns import StubResolver, resolve_everything_to

from contracts.events import CALLBACK_EVENT_TYPES
from libs.callbacks.outbound import GuardedResolver, outbound_session
from libs.registry.models import CallbackEndpoint
from libs.registry.secrets import new_secret
from services.dispatcher.fanout import requests_for
from services.dispatcher.sender import Sender
from tests.factories import NOW, TENANT_ID, make_failed

TIMEOUT_S = 1.0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = await Receiver().start()
    try:
        yield server
    finally:
        await server.stop()


def request_for(url: str) -> Any:
    endpoint = CallbackEndpoint(id="cb-1", tenant_id=TENANT_ID, url=url, secret="whsec_x",
                                event_types=list(CALLBACK_EVENT_TYPES))
    return requests_for(make_failed(), [endpoint], NOW)[0].event


async def attempt(url: str, secrets: list[str], *, ca: bool = True,
                  allow_loopback: bool = True) -> Any:
    session = outbound_session(TIMEOUT_S, str(callback_ca().ca_file) if ca else "")
    try:
        return await Sender(session, allow_loopback, TIMEOUT_S).attempt(
            url, secrets, request_for(url), 1)
    finally:
        await session.close()


async def test_a_signed_delivery_verifies_with_either_secret(receiver: Receiver) -> None:
    old, new = new_secret(), new_secret()
    outcome = await attempt(f"{receiver.base_url}/hook", [new, old])
    assert outcome.delivered and outcome.status_code == 200
    [got] = receiver.on("/hook")
    assert verify([old], got.headers, got.body) and verify([new], got.headers, got.body)
    assert not verify([new_secret()], got.headers, got.body)
    assert got.headers["webhook-id"] == make_failed().event_id
    assert got.headers["tradehooks-attempt"] == "1"


async def test_an_untrusted_certificate_is_a_failed_attempt(receiver: Receiver) -> None:
    outcome = await attempt(f"{receiver.base_url}/hook", ["whsec_x"], ca=False)
    assert not outcome.delivered and "certificate" in outcome.error.lower()
    assert not receiver.requests


async def test_redirects_are_not_followed_and_failures_are_read_briefly(
        receiver: Receiver) -> None:
    receiver.modes.update({"/moved": "redirect", "/broken": "fail", "/slow": "slow"})
    moved = await attempt(f"{receiver.base_url}/moved", ["whsec_x"])
    assert (moved.status_code, moved.delivered) == (302, False)
    assert "not followed" in moved.error and not receiver.on("/target")
    broken = await attempt(f"{receiver.base_url}/broken", ["whsec_x"])
    assert (broken.status_code, broken.error) == (500, "answered 500")
    slow = await attempt(f"{receiver.base_url}/slow", ["whsec_x"])
    assert slow.status_code == 0 and "no answer within 1 s" in slow.error


async def test_literal_addresses_are_judged_before_any_connection() -> None:
    private = await attempt("https://10.255.255.1/x", ["whsec_x"])
    assert private.refused and "private address" in private.error
    loopback = await attempt("https://127.0.0.1:9/x", ["whsec_x"], allow_loopback=False)
    assert loopback.refused and "loopback" in loopback.error


async def test_a_name_is_connected_to_only_when_every_address_is_allowed(
        receiver: Receiver) -> None:
    guard = GuardedResolver()
    guard._inner = StubResolver("127.0.0.1")  # type: ignore[assignment]
    with pytest.raises(OSError, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        await guard.resolve("rebinding.example", 443)
    # Through a session: refused before connecting, even with loopback allowed (the
    # allowance is for literal loopback addresses only).
    session = outbound_session(TIMEOUT_S, str(callback_ca().ca_file))
    resolve_everything_to(session, "127.0.0.1")
    try:
        url = f"https://rebinding.example:{receiver.port}/hook"
        outcome = await Sender(session, True, TIMEOUT_S).attempt(url, ["whsec_x"],
                                                                 request_for(url), 1)
    finally:
        await session.close()
    assert outcome.refused and "resolves to 127.0.0.1" in outcome.error
    assert not receiver.requests
    public = GuardedResolver()
    public._inner = StubResolver("93.184.216.34")  # type: ignore[assignment]
    assert (await public.resolve("hooks.example", 443))[0]["host"] == "93.184.216.34"


async def test_attempts_share_a_connection_but_never_one_a_name_was_not_judged_for(
        receiver: Receiver) -> None:
    receiver.modes["/broken"] = "fail"
    session = outbound_session(TIMEOUT_S, str(callback_ca().ca_file))
    sender = Sender(session, True, TIMEOUT_S)
    url = f"{receiver.base_url}/hook"
    try:
        kept = [await sender.attempt(url, ["whsec_x"], request_for(url), n) for n in (1, 2, 3)]
        # An answer longer than what is read: its connection is not pooled.
        broken = await sender.attempt(f"{receiver.base_url}/broken", ["whsec_x"],
                                      request_for(url), 1)
        after = await sender.attempt(url, ["whsec_x"], request_for(url), 4)
        # A name that resolves to the pooled connection's address does not get that
        # connection: it is resolved and judged (and refused) like any new one.
        resolve_everything_to(session, "127.0.0.1")
        named = await sender.attempt(f"https://rebinding.example:{receiver.port}/hook",
                                     ["whsec_x"], request_for(url), 1)
    finally:
        await session.close()
    assert all(o.delivered for o in kept) and after.delivered
    assert broken.status_code == 500
    peers = [r.peer for r in receiver.requests]
    assert len(peers) == 5 and all(peers)
    assert len(set(peers[:4])) == 1 and peers[4] != peers[0]
    assert named.refused and "resolves to 127.0.0.1" in named.error
