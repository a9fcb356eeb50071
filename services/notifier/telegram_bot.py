"""The Telegram admin bot: operators manage their tenant from a chat.

It long-polls the Bot API (``getUpdates``, through python-telegram-bot; base URL
``TRADEHOOKS_TELEGRAM_API_URL``) and answers each command with ``sendMessage``. Only
chats bound to a tenant answer (:mod:`libs.notify.bot`); everything a command
touches is that tenant's. A new strategy's secret is told only in a private chat (in
a group the members, and Telegram's history, would keep it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

from pydantic import ValidationError
from telegram import Update
from telegram.error import TelegramError

from contracts.webhook_urls import webhook_url
from libs.notify.bot import USAGE, Binding, Command, parse_command, refusal
from libs.registry.changes import save_change
from libs.registry.models import Account, Strategy
from libs.registry.operations import resume_account
from libs.registry.provisioning import register_strategy, tradingview_message, unique_slug
from libs.registry.secrets import new_secret
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock
from services.notifier.telegram_api import MAX_TEXT, NO_PREVIEW, TelegramBots, described

log = logging.getLogger(__name__)
PRIVATE_ONLY = "<sent only in a private chat with the bot>"


class TelegramBot:
    """Polls for commands and answers them."""

    def __init__(self, bots: TelegramBots, token: str, bindings: dict[str, Binding],
                 bus: Bus, registry: Registry, clock: Clock, public_url: str,
                 poll_s: float = 25.0) -> None:
        self.bot = bots.bot(token)
        self.bindings = bindings
        self.bus = bus
        self.registry = registry
        self.clock = clock
        self.public_url = public_url
        self.poll_s = poll_s
        self.offset = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Answer commands until ``stop``."""
        while not stop.is_set():
            poll = asyncio.ensure_future(self._updates())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait([poll, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not poll.done():
                poll.cancel()
                return
            for update in poll.result():
                self.offset = max(self.offset, update.update_id + 1)
                await self._answer_update(update)

    async def _updates(self) -> tuple[Update, ...]:
        try:
            return await self.bot.get_updates(offset=self.offset, timeout=int(self.poll_s),
                                              allowed_updates=["message"])
        except TelegramError as exc:
            # Described by kind only: requests carry the bot token.
            log.warning("telegram getUpdates failed (%s); retrying", described(exc))
            await asyncio.sleep(2.0)
            return ()

    async def _answer_update(self, update: Update) -> None:
        message = update.message
        if message is None:
            return
        command = parse_command(message.text or "")
        if command is None:
            return
        chat_id = str(message.chat.id)
        try:
            reply = await self.answer(chat_id, message.chat.type == "private", command)
        except Exception:
            log.exception("telegram command /%s failed", command.name)
            reply = "Something went wrong; the operators have the details in the log."
        await self._send(chat_id, reply)

    async def answer(self, chat_id: str, private: bool, command: Command) -> str:
        """The reply to ``command`` from ``chat_id`` (doing what it asks when allowed)."""
        binding = self.bindings.get(chat_id)
        refused = refusal(binding, command)
        if refused is not None or binding is None:
            log.info("telegram chat %s refused /%s", chat_id, command.name)
            return refused or ""
        tenant = binding.tenant_id
        by = f"telegram:{chat_id}"
        if command.name == "add_strategy":
            return await self._add_strategy(tenant, private, command.args)
        if command.name == "strategies":
            rows = [f"• {s.name} ({s.slug}) → {s.account_id}"
                    f"{'' if s.enabled else ' [disabled]'}"
                    for s in await self.registry.strategies() if s.tenant_id == tenant]
            return "\n".join(rows) or "No strategies yet."
        if command.name in ("pause", "resume"):
            return await self._pause_or_resume(tenant, command, by)
        if command.name == "status":
            accounts = [a for a in await self.registry.accounts() if a.tenant_id == tenant]
            count = len([s for s in await self.registry.strategies() if s.tenant_id == tenant])
            rows = [f"• {a.id} ({a.name}, {a.broker}): "
                    f"{'PAUSED' if a.paused else 'trading' if a.active else 'disabled'}"
                    for a in accounts]
            return f"Tenant {tenant}: {len(accounts)} account(s), {count} strategy(ies)\n" + \
                "\n".join(rows)
        return USAGE

    async def _account(self, tenant: str, account_id: str) -> Account | None:
        account = await self.registry.account(account_id)
        return account if account is not None and account.tenant_id == tenant else None

    async def _add_strategy(self, tenant: str, private: bool, args: tuple[str, ...]) -> str:
        if not args:
            return "Usage: /add_strategy NAME [ACCOUNT]"
        accounts = [a for a in await self.registry.accounts() if a.tenant_id == tenant]
        if len(args) > 1:
            account = await self._account(tenant, args[1])
        else:
            account = accounts[0] if len(accounts) == 1 else None
            if account is None:
                return "Name the account: /add_strategy NAME ACCOUNT (" + \
                    ", ".join(a.id for a in accounts) + ")"
        if account is None:
            return f"No account {args[1]} in tenant {tenant}."
        try:
            strategy = Strategy(id=f"strat-{uuid.uuid4().hex[:10]}", tenant_id=tenant,
                                account_id=account.id, name=args[0],
                                slug=await unique_slug(self.registry, tenant, args[0]),
                                secret=new_secret())
        except ValidationError:
            return "That is not a valid strategy name."
        await register_strategy(self.bus, self.registry, strategy, self.clock)
        message = tradingview_message(strategy)
        if not private:
            message["token"] = PRIVATE_ONLY
        url = webhook_url(self.public_url, tenant, strategy.slug)
        note = "" if private else "\nThe secret is shown only in a private chat with the bot."
        return (f"Strategy {strategy.name} registered on {account.id}.\nWebhook URL: {url}\n"
                f"TradingView message:\n{json.dumps(message, indent=1)}{note}")

    async def _pause_or_resume(self, tenant: str, command: Command, by: str) -> str:
        if not command.args:
            return f"Usage: /{command.name} ACCOUNT"
        account = await self._account(tenant, command.args[0])
        if account is None:
            return f"No account {command.args[0]} in tenant {tenant}."
        if command.name == "resume":
            await resume_account(self.bus, self.registry, account.id, self.clock, by=by)
            return f"Account {account.id} resumed."
        if not account.paused:
            paused = account.model_copy(update={
                "paused": True, "paused_reason": f"paused from Telegram ({by})"})
            await save_change(self.bus, self.registry, account, paused, self.clock, by)
        return f"Account {account.id} paused: its new signals fail until /resume."

    async def _send(self, chat_id: str, text: str) -> None:
        try:
            await self.bot.send_message(chat_id=chat_id, text=text[:MAX_TEXT],
                                        link_preview_options=NO_PREVIEW)
        except TelegramError as exc:
            log.warning("telegram sendMessage failed (%s)", described(exc))
