"""The Telegram admin bot against a fake Bot API (long polling on loopback) and a real
registry on NATS: commands do what they say for their own tenant only; the secret of
a new strategy is told only in a private chat."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from fakes.chat_servers import FakeChats
from harness import Tenancy, master_box, provision, wait_until

from contracts import streams
from libs.notify.bot import parse_bindings
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from services.notifier.telegram_api import TelegramBots
from services.notifier.telegram_bot import PRIVATE_ONLY, TelegramBot

TOKEN = "555:bot-admin-token"
ADMIN, VIEWER, GROUP, STRANGER = 1001, 1002, -1003, 1004


@pytest.fixture
async def chats() -> AsyncIterator[FakeChats]:
    fake = await FakeChats().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def running_bot(bus: Bus, chats: FakeChats
                      ) -> AsyncIterator[tuple[Tenancy, Tenancy, Registry]]:
    t = await provision(bus)
    other = await provision(bus)
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    bindings = parse_bindings(f"{ADMIN}={t.tenant.id}:admin,{VIEWER}={t.tenant.id}:viewer,"
                              f"{GROUP}={t.tenant.id}:admin")
    stop = asyncio.Event()
    bots = TelegramBots(chats.url, 5, poll_s=1)
    bot = TelegramBot(bots, TOKEN, bindings, bus, registry, SystemClock(),
                      "https://hooks.example.test", poll_s=1)
    task = asyncio.create_task(bot.run(stop))
    try:
        yield t, other, registry
        assert (await registry.account(other.account.id)).paused is False  # type: ignore[union-attr]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await bots.close()


async def reply(chats: FakeChats, chat: int, text: str, private: bool = True) -> str:
    before = len(chats.replies(chat))
    chats.say(chat, text, private)
    await wait_until(lambda: len(chats.replies(chat)) > before, 10, message=f"reply to {text}")
    return chats.replies(chat)[-1]


async def test_add_strategy_answers_url_and_message_with_the_secret_only_in_private(
        running_bot: tuple[Tenancy, Tenancy, Registry], chats: FakeChats) -> None:
    t, _other, registry = running_bot
    answer = await reply(chats, ADMIN, "/add_strategy DynamicGoldBreakout")
    url = f"https://hooks.example.test/webhook/{t.tenant.id}/dynamic-goldbreakout"
    assert f"Webhook URL: {url}" in answer
    message = json.loads(answer.split("TradingView message:\n", 1)[1])
    [strategy] = [s for s in await registry.strategies()
                  if s.tenant_id == t.tenant.id and s.name == "DynamicGoldBreakout"]
    assert message["token"] == strategy.secret and strategy.account_id == t.account.id
    in_group = await reply(chats, GROUP, "/add_strategy GroupBot", private=False)
    assert PRIVATE_ONLY in in_group and "whsec_" not in in_group
    listed = await reply(chats, VIEWER, "/strategies")
    assert "dynamic-goldbreakout" in listed and "group-bot" in listed


async def test_pause_resume_status_for_admins_only_and_strangers_refused(
        running_bot: tuple[Tenancy, Tenancy, Registry], chats: FakeChats) -> None:
    t, other, registry = running_bot
    assert "admin role" in await reply(chats, VIEWER, f"/pause {t.account.id}")
    assert (await registry.account(t.account.id)).paused is False  # type: ignore[union-attr]
    assert "paused" in await reply(chats, ADMIN, f"/pause@TradehooksBot {t.account.id}")
    assert (await registry.account(t.account.id)).paused is True  # type: ignore[union-attr]
    assert "PAUSED" in await reply(chats, VIEWER, "/status")
    assert "resumed" in await reply(chats, ADMIN, f"/resume {t.account.id}")
    assert (await registry.account(t.account.id)).paused is False  # type: ignore[union-attr]
    assert "not allowed" in await reply(chats, STRANGER, "/status")
    # Another tenant's account is not there for this chat (the fixture checks it
    # stayed untouched).
    assert "No account" in await reply(chats, ADMIN, f"/pause {other.account.id}")
