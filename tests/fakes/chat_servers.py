"""Fake chat endpoints on loopback: the Telegram Bot API's ``sendMessage``, Discord and
Slack incoming webhooks, and a real SMTP server (aiosmtpd). Each records what it was
sent; ``fail_next`` makes the next requests answer 500."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from ports import free_port


@dataclass
class Posted:
    """One request a fake chat service took."""

    service: str  # telegram, discord, slack
    path: str
    body: dict[str, Any]


@dataclass
class FakeChats:
    """Telegram, Discord and Slack in one aiohttp server."""

    posted: list[Posted] = field(default_factory=list)
    fail_next: int = 0
    # Telegram updates waiting for the bot's getUpdates (long polling).
    updates: list[dict[str, Any]] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def of(self, service: str) -> list[Posted]:
        """What ``service`` was sent, in order."""
        return [p for p in self.posted if p.service == service]

    async def _take(self, request: web.Request, service: str) -> web.StreamResponse:
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.json_response({"ok": False}, status=500)
        self.posted.append(Posted(service, request.path, await _body(request)))
        if service == "telegram":  # the Message Telegram answers (what a client parses)
            chat = self.posted[-1].body.get("chat_id", 0)
            return web.json_response({"ok": True, "result": {
                "message_id": len(self.posted), "date": 0, "text": "",
                "chat": {"id": int(chat) if str(chat).lstrip("-").isdigit() else 0,
                         "type": "private"}}})
        return web.Response(status=204) if service == "discord" else web.Response(text="ok")

    def say(self, chat_id: int, text: str, private: bool = True) -> None:
        """A person writes ``text`` to the bot in chat ``chat_id``."""
        self.updates.append({"update_id": len(self.updates) + 100, "message": {
            "message_id": len(self.updates) + 1, "date": 0, "text": text,
            "chat": {"id": chat_id, "type": "private" if private else "supergroup"}}})
        self._arrived.set()

    def replies(self, chat_id: int) -> list[str]:
        """What the bot answered in chat ``chat_id``."""
        return [p.body["text"] for p in self.of("telegram")
                if str(p.body.get("chat_id")) == str(chat_id)]

    async def _get_updates(self, request: web.Request) -> web.StreamResponse:
        asked = {**request.query, **(await _body(request) if request.can_read_body else {})}
        offset = int(asked.get("offset", "0"))
        timeout = float(asked.get("timeout", "0"))
        with_offset = [u for u in self.updates if u["update_id"] >= offset]
        if not with_offset and timeout:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout)
            with_offset = [u for u in self.updates if u["update_id"] >= offset]
        return web.json_response({"ok": True, "result": with_offset})

    async def _telegram(self, request: web.Request) -> web.StreamResponse:
        return await self._take(request, "telegram")

    async def _discord(self, request: web.Request) -> web.StreamResponse:
        return await self._take(request, "discord")

    async def _slack(self, request: web.Request) -> web.StreamResponse:
        return await self._take(request, "slack")

    async def start(self) -> FakeChats:
        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", self._telegram)
        app.router.add_get("/bot{token}/getUpdates", self._get_updates)
        app.router.add_post("/bot{token}/getUpdates", self._get_updates)
        app.router.add_post("/api/webhooks/{id}/{token}", self._discord)
        app.router.add_post("/services/{a}/{b}/{c}", self._slack)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def _body(request: web.Request) -> dict[str, Any]:
    """A request's fields, sent as JSON (webhooks) or as a form (python-telegram-bot,
    which JSON-encodes nested values: ``link_preview_options``)."""
    if request.content_type == "application/json":
        return dict(await request.json())
    return dict(await request.post())


class _Inbox:
    def __init__(self) -> None:
        self.mails: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session,
                          envelope: Envelope) -> str:
        self.mails.append(message_from_bytes(envelope.original_content or b""))
        return "250 OK"


class FakeSmtp:
    """An SMTP server on loopback (no TLS, no auth) that keeps every mail."""

    def __init__(self) -> None:
        self.inbox = _Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    @property
    def mails(self) -> list[Message]:
        return self.inbox.mails

    def start(self) -> FakeSmtp:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
