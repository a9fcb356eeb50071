"""Telegram's Bot API through python-telegram-bot: one ``Bot`` per token, all on the
configured base URL (``TRADEHOOKS_TELEGRAM_API_URL``: Telegram's, a self-hosted Bot API
server, or a local fake in tests).

The bot token is part of every request URL, so nothing here may let a URL reach a
log: httpx (python-telegram-bot's HTTP client) logs each request's URL at INFO, so
its logger is held at WARNING, and failures are described by their kind and
Telegram's own description, never by the request.
"""

from __future__ import annotations

import logging

from telegram import Bot, LinkPreviewOptions
from telegram.error import BadRequest, Forbidden, InvalidToken, TelegramError
from telegram.request import HTTPXRequest

logging.getLogger("httpx").setLevel(logging.WARNING)  # it would log the token
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
MAX_TEXT = 4096


class TelegramBots:
    """The bots the notifier talks through, by token."""

    def __init__(self, api_url: str, timeout_s: float, poll_s: float = 25.0) -> None:
        self.base_url = f"{api_url.rstrip('/')}/bot"
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._bots: dict[str, Bot] = {}

    def bot(self, token: str) -> Bot:
        """The bot of ``token`` (made on first use)."""
        bot = self._bots.get(token)
        if bot is None:
            t = self.timeout_s
            bot = Bot(token, base_url=self.base_url,
                      request=HTTPXRequest(connection_pool_size=8, connect_timeout=t,
                                           read_timeout=t, write_timeout=t, pool_timeout=t),
                      get_updates_request=HTTPXRequest(
                          connect_timeout=t, read_timeout=self.poll_s + 10, write_timeout=t,
                          pool_timeout=t))
            self._bots[token] = bot
        return bot

    async def send(self, token: str, chat_id: str, text: str) -> None:
        """Post ``text`` to ``chat_id``; TelegramError when it did not arrive."""
        await self.bot(token).send_message(chat_id=chat_id, text=text[:MAX_TEXT],
                                           link_preview_options=NO_PREVIEW)

    async def close(self) -> None:
        """Close every bot's connections."""
        for bot in self._bots.values():
            await bot.shutdown()
        self._bots.clear()


def is_permanent(exc: TelegramError) -> bool:
    """Whether trying again cannot help: a bad token, a chat that does not exist or
    that blocked the bot, a message Telegram refuses."""
    return isinstance(exc, InvalidToken | Forbidden | BadRequest)


def described(exc: TelegramError) -> str:
    """A failure in words that hold no token: its kind, and Telegram's description
    when Telegram answered one."""
    if isinstance(exc, BadRequest | Forbidden):
        return f"{type(exc).__name__}: {exc.message[:200]}"
    return type(exc).__name__
