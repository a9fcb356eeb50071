"""Sending one message to one channel: Telegram, Discord, Slack, e-mail.

Telegram goes through python-telegram-bot (:mod:`services.notifier.telegram_api`),
Discord and Slack get plain JSON posts over aiohttp, e-mail goes through aiosmtplib.

Discord and Slack URLs are the tenant's: they are judged like callback URLs and sent
through the dispatcher's guarded session (:func:`libs.callbacks.outbound.outbound_session`):
the name is resolved, every address judged, and only a judged address connected to;
no redirects, no proxies. Telegram's Bot API base URL is the operator's setting
(``TRADEHOOKS_TELEGRAM_API_URL``, which may be a self-hosted Bot API server on a
private network), so it is not judged; the tenant's part, the bot token, is checked
to be a token (it cannot steer the path). A failure is
raised as :class:`SendError` whose text never holds the secret (a bot token sits in
Telegram's URL, a Discord/Slack webhook URL is itself the credential).
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import aiohttp
import aiosmtplib
from telegram.error import TelegramError

from libs.callbacks.outbound import connection_problem, refused_by
from libs.notify.messages import Message
from libs.registry.models import NotificationChannel
from services.notifier.telegram_api import TelegramBots, described, is_permanent

# Discord refuses content over 2000 characters; Telegram over 4096.
_LIMITS = {"discord": 2000, "telegram": 4096, "slack": 3900}


class SendError(Exception):
    """A message did not reach its channel (the text names no secret); ``permanent``
    when trying again cannot help (refused address, bad token, unknown chat)."""

    def __init__(self, text: str, permanent: bool = False) -> None:
        super().__init__(text)
        self.permanent = permanent


def _permanent(status: int) -> bool:
    """Whether an HTTP answer means the request will never succeed as it is."""
    return 400 <= status < 500 and status not in (408, 425, 429)


class Senders:
    """Sends messages: Telegram through ``telegram``, Discord and Slack over ``hooks``
    (a guarded session: :func:`libs.callbacks.outbound.outbound_session`)."""

    def __init__(self, telegram: TelegramBots, timeout_s: float,
                 allow_loopback: bool = False, *, hooks: aiohttp.ClientSession) -> None:
        self.telegram = telegram
        self.hooks = hooks
        self.timeout_s = timeout_s
        self.allow_loopback = allow_loopback

    async def send(self, channel: NotificationChannel, message: Message) -> None:
        """Send ``message`` to ``channel``; SendError when it did not arrive."""
        if channel.kind == "email":
            await self._mail(channel, message)
            return
        text = message.text()[:_LIMITS[channel.kind]]
        if channel.kind == "telegram":
            try:
                await self.telegram.send(channel.secret, channel.chat_id, text)
            except TelegramError as exc:
                raise SendError(f"telegram refused or unreachable ({described(exc)})",
                                permanent=is_permanent(exc)) from None
            return
        problem = connection_problem(channel.secret, self.allow_loopback)
        if problem is not None:
            raise SendError(f"{channel.kind} webhook refused: {problem}", permanent=True)
        body = {"content": text} if channel.kind == "discord" else {"text": text}
        await self._post(channel, channel.secret, body)

    async def _post(self, channel: NotificationChannel, url: str, body: dict[str, Any]) -> None:
        try:
            async with self.hooks.post(
                    url, json=body, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as response:
                await response.content.read(4096)
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            refusal = refused_by(exc)  # names the host and address, not the path
            if refusal is not None:
                raise SendError(f"{channel.kind} webhook refused: {refusal}",
                                permanent=True) from None
            # The exception's text may carry the URL, hence the secret: only its kind.
            raise SendError(f"{channel.kind} unreachable ({type(exc).__name__})") from None
        if not 200 <= status < 300:
            raise SendError(f"{channel.kind} answered {status}", permanent=_permanent(status))

    async def _mail(self, channel: NotificationChannel, message: Message) -> None:
        mail = EmailMessage()
        mail["From"] = channel.mail_from
        mail["To"] = ", ".join(channel.to)
        mail["Subject"] = message.title
        if message.ref:  # the same on a resend: a mailbox can drop the copy
            mail["Message-ID"] = f"<{message.ref}@tradehooks.notifications>"
        mail.set_content(message.body)
        try:
            await aiosmtplib.send(
                mail, hostname=channel.smtp_host, port=channel.smtp_port,
                username=channel.smtp_user or None, password=channel.secret or None,
                use_tls=channel.smtp_tls == "tls", start_tls=channel.smtp_tls == "starttls",
                timeout=self.timeout_s)
        except (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPRecipientsRefused,
                aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPNotSupported) as exc:
            raise SendError(f"email refused ({type(exc).__name__})", permanent=True) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendError(f"email not sent ({type(exc).__name__})") from None
