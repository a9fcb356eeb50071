"""One HTTP attempt of a callback: the Standard Webhooks body and headers, signed,
POSTed through the guarded session (:mod:`libs.callbacks.outbound`).

``webhook-id`` is the source event's id, the same on every attempt and redelivery,
so a receiver de-duplicates by it; ``webhook-timestamp`` is the attempt's time. The
body is ``{"type", "timestamp", "data"}`` with the event as published in ``data``,
the same bytes on every attempt. A redirect is not followed, and no more than
:data:`MAX_RESPONSE_BYTES` of an answer is read.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import orjson

from contracts.events import CallbackRequested
from libs.callbacks.outbound import connection_problem, refused_by
from libs.http.standard_webhooks import signature_header
from services.dispatcher.machine import Outcome

MAX_RESPONSE_BYTES = 4096
USER_AGENT = "tradehooks-callbacks/1"


def body_of(request: CallbackRequested) -> bytes:
    """The body every attempt of ``request`` sends."""
    return orjson.dumps({"type": request.source_type,
                         "timestamp": request.payload.get("occurred_at", ""),
                         "data": request.payload})


class Sender:
    """Makes attempts over one guarded session."""

    def __init__(self, session: aiohttp.ClientSession, allow_loopback: bool,
                 timeout_s: float, unix_time: Callable[[], float] = time.time) -> None:
        self.session = session
        self.allow_loopback = allow_loopback
        self.timeout_s = timeout_s
        self.unix_time = unix_time

    async def attempt(self, url: str, secrets: list[str], request: CallbackRequested,
                      attempt: int) -> Outcome:
        """POST the request's body to ``url``, signed with ``secrets``; how it went."""
        problem = connection_problem(url, self.allow_loopback)
        if problem is not None:
            return Outcome(error=f"not sent: {problem}", refused=True)
        body = body_of(request)
        stamp = int(self.unix_time())
        headers = {
            "content-type": "application/json", "user-agent": USER_AGENT,
            "webhook-id": request.source_event_id, "webhook-timestamp": str(stamp),
            "webhook-signature": signature_header(secrets, request.source_event_id, stamp,
                                                  body),
            "tradehooks-delivery-id": request.delivery_id,
            "tradehooks-attempt": str(attempt),
        }
        try:
            async with self.session.post(url, data=body, headers=headers,
                                         allow_redirects=False) as resp:
                await resp.content.read(MAX_RESPONSE_BYTES)
                status = resp.status
                location = resp.headers.get("Location", "")
        except Exception as exc:
            return _failure(exc, self.timeout_s)
        if 200 <= status < 300:
            return Outcome(status_code=status)
        if 300 <= status < 400:
            where = f" (to {location[:200]})" if location else ""
            return Outcome(status_code=status,
                           error=f"answered {status}: a redirect{where}, not followed")
        return Outcome(status_code=status, error=f"answered {status}")


def _failure(exc: Exception, timeout_s: float) -> Outcome:
    """The outcome of an attempt that got no answer."""
    refusal = refused_by(exc)
    if refusal is not None:
        return Outcome(error=f"not sent: {refusal}", refused=True)
    if isinstance(exc, TimeoutError):
        return Outcome(error=f"no answer within {timeout_s:g} s")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return Outcome(error=f"{type(exc).__name__}: {exc}"[:300])
    raise exc
