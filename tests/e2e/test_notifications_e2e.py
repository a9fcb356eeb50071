"""Notifications on the running system: a fill reaches the tenant's Telegram chat, a
burst of failed signals reaches Discord, Slack and e-mail as one message each, all
through the notifier process against local fakes (Telegram Bot API, Discord and Slack
webhooks, SMTP on loopback); and the Telegram admin bot registers a strategy whose
returned URL and token take an alert."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from fakes.chat_servers import FakeChats, FakeSmtp
from harness import (
    EventTap,
    System,
    log_size,
    master_box,
    provision,
    remember_secret,
    wait_until,
)
from nats.js.errors import NotFoundError

from contracts import streams
from contracts.events import TradeExecuted, WebhookFailed
from libs.notify.pending import KvPending
from libs.registry.store import Registry
from libs.runtime.bus import Bus

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]
TOKEN = "987654:e2e-telegram-token"
BURST = 5


@pytest.fixture
def notifier(system: System) -> Iterator[Callable[..., None]]:
    """Starts the notifier with a test's settings (its fakes' URLs); stopped after the
    test, so the next test of the module starts its own."""

    def start(**env: str) -> None:
        system.start("notifier", **env)

    yield start
    proc = system.processes.get("notifier")
    if proc is not None and proc.poll() is None:
        assert system.terminate("notifier") == 0
    system.processes.pop("notifier", None)  # the shared system is left as it was found


async def mine(kv: Any, tenant_id: str) -> tuple[list[Any], list[Any]]:
    """The pending notices and batches of one tenant (the system is shared)."""
    notices, batches = await KvPending(kv).load()
    return ([n for n in notices if n.tenant_id == tenant_id],
            [b for b in batches if b.tenant_id == tenant_id])


@pytest.fixture
async def chats() -> AsyncIterator[FakeChats]:
    fake = await FakeChats().start()
    yield fake
    await fake.stop()


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    fake = FakeSmtp().start()
    yield fake
    fake.stop()


def channels(chats: FakeChats, smtp: FakeSmtp) -> list[dict[str, Any]]:
    burst: dict[str, Any] = {"topics": ["failures"], "collapse_s": 5, "min_interval_s": 300}
    return [
        {"name": "desk", "kind": "telegram", "topics": ["fills"], "secret": TOKEN,
         "chat_id": "-100123", "collapse_s": 0, "min_interval_s": 0},
        {"name": "discord", "kind": "discord",
         "secret": f"{chats.url}/api/webhooks/9/e2e-discord-token", **burst},
        {"name": "slack", "kind": "slack",
         "secret": f"{chats.url}/services/T9/B9/e2e-slack-token", **burst},
        {"name": "mail", "kind": "email", "to": ["desk@example.test"],
         "mail_from": "tradehooks@example.test", "smtp_host": "127.0.0.1",
         "smtp_port": smtp.port, "smtp_tls": "none", **burst},
    ]


async def test_fills_and_a_collapsed_burst_of_failures_reach_every_channel(
        system: System, bus: Bus, tap: EventTap, chats: FakeChats, smtp: FakeSmtp,
        notifier: Callable[..., None]) -> None:
    remember_secret(TOKEN, "e2e-discord-token", "e2e-slack-token")
    t = await provision(bus, tenant_fields={"notifications": channels(chats, smtp)},
                        allowed_symbols=["ACME"], max_order_notional=None)
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        _, entry = await post_json(http, url, tv_alert(symbol="ACME", price="100"))
        assert isinstance(await tap.wait_terminal(entry["signal_id"]), TradeExecuted)
        # The burst is in the stream before the notifier starts, so it arrives at once
        # (within any collapse window however slow the machine is).
        for n in range(BURST):
            status, refused = await post_json(http, url, tv_alert(symbol="XYZ", price=f"5{n}"))
            assert "signal_id" in refused, (status, refused)
            assert isinstance(await tap.wait_terminal(refused["signal_id"]), WebhookFailed)
        notifier(TRADEHOOKS_TELEGRAM_API_URL=chats.url,
                 TRADEHOOKS_CALLBACK_ALLOW_LOOPBACK="true")
        await wait_until(lambda: chats.of("telegram") and chats.of("discord")
                         and chats.of("slack") and smtp.mails, 30,
                         message="every channel to be told")
        [fill] = chats.of("telegram")
        assert fill.path == f"/bot{TOKEN}/sendMessage" and fill.body["chat_id"] == "-100123"
        assert fill.body["text"].startswith("tradehooks: Fill\nbuy")
        assert "ACME" in fill.body["text"] and t.account.id in fill.body["text"]
        [discord] = chats.of("discord")
        assert discord.body["content"].startswith(f"tradehooks: {BURST} failed signals")
        [slack] = chats.of("slack")
        assert slack.body["text"].count("allowed_symbols") == BURST
        [mail] = smtp.mails
        assert mail["Subject"] == f"tradehooks: {BURST} failed signals"
        # A fill while the notifier runs is told at once.
        _, second = await post_json(http, url, tv_alert(symbol="ACME",
                                                        price="101"))
        assert isinstance(await tap.wait_terminal(second["signal_id"]), TradeExecuted)
        await wait_until(lambda: len(chats.of("telegram")) == 2, 30,
                         message="the second fill")
    # The burst stays one message per channel (the next may come after 300 s only).
    assert len(chats.of("discord")) == len(chats.of("slack")) == len(smtp.mails) == 1


async def test_a_burst_cut_by_a_kill_still_arrives_as_one_message(
        system: System, bus: Bus, tap: EventTap, chats: FakeChats,
        notifier: Callable[..., None]) -> None:
    """At least once: three failures are gathered, recorded and acked; the notifier
    is killed (-9) before their window closes; two more fail while it is down. The
    restarted notifier tells all five in one message, once."""
    remember_secret("e2e-kill-token")
    hook = f"{chats.url}/api/webhooks/7/e2e-kill-token"
    channel = {"name": "ops", "kind": "discord", "secret": hook, "topics": ["failures"],
               "collapse_s": 3600, "min_interval_s": 0}
    t = await provision(bus, tenant_fields={"notifications": [channel]},
                        allowed_symbols=["ACME"])
    url = system.webhook_url(t.strategy)
    kv = await bus.kv(streams.BUCKET_NOTIFY_PENDING)
    notifier(TRADEHOOKS_CALLBACK_ALLOW_LOOPBACK="true")
    signals = []
    async with aiohttp.ClientSession() as http:

        async def fail_one(n: int) -> None:
            _, refused = await post_json(http, url, tv_alert(symbol="XYZ", price=f"7{n}"))
            assert isinstance(await tap.wait_terminal(refused["signal_id"]), WebhookFailed)
            signals.append(refused["signal_id"])

        for n in range(3):
            await fail_one(n)

        async def gathered_and_acked() -> bool:
            try:
                info = await bus.js.consumer_info(streams.STREAM, streams.NOTIFIER.durable)
            except NotFoundError:
                return False  # the notifier is still starting
            notices, _ = await mine(kv, t.tenant.id)
            return len(notices) == 3 and \
                info.num_ack_pending == 0 and info.num_pending == 0

        await wait_until(gathered_and_acked, 30, message="three notices recorded, acked")
        system.kill("notifier")
        assert chats.of("discord") == []  # the window was still open
        for n in range(3, 5):
            await fail_one(n)
    # The restarted notifier applies the channel's current window: a short one now.
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    tenant = await registry.tenant(t.tenant.id)
    assert tenant is not None
    shorter = [c.model_copy(update={"collapse_s": 1.0}) for c in tenant.notifications]
    await registry.put(tenant.model_copy(update={"notifications": shorter}))
    notifier(TRADEHOOKS_CALLBACK_ALLOW_LOOPBACK="true")

    async def told_and_forgotten() -> bool:
        return bool(chats.of("discord")) and await mine(kv, t.tenant.id) == ([], [])

    await wait_until(told_and_forgotten, 30, message="the burst told, records forgotten")
    [told] = chats.of("discord")
    assert told.body["content"].startswith("tradehooks: 5 failed signals")
    assert all(signal in told.body["content"] for signal in signals)


async def test_the_daily_summary_is_sent_once_across_a_kill_after_the_hour(
        system: System, bus: Bus, tap: EventTap, chats: FakeChats,
        notifier: Callable[..., None]) -> None:
    """The summary hour is 0 (UTC), so it has passed: the notifier sends the day's
    summary, counted from the stream (events from before it started included), and is
    killed (-9); the restarted one finds the summary marked and sends nothing."""
    remember_secret(TOKEN)
    chat = -100777
    channel = {"name": "daily", "kind": "telegram", "secret": TOKEN, "chat_id": str(chat),
               "topics": ["daily_summary"]}
    t = await provision(bus, tenant_fields={"notifications": [channel]},
                        allowed_symbols=["ACME"], max_order_notional=None)
    url = system.webhook_url(t.strategy)
    async with aiohttp.ClientSession() as http:
        for n, symbol in enumerate(("ACME", "XYZ", "XYZ")):  # a fill, two refusals
            _, entry = await post_json(http, url, tv_alert(symbol=symbol, price=f"10{n}"))
            await tap.wait_terminal(entry["signal_id"])
    env = {"TRADEHOOKS_TELEGRAM_API_URL": chats.url, "TRADEHOOKS_NOTIFY_SUMMARY_HOUR": "0"}
    notifier(**env)
    await wait_until(lambda: chats.replies(chat), 30, message="the summary")
    # Killed once it has recorded the summary as sent: killed between sending and
    # recording, a restart sends it again (at least once, by design; documented).
    kv = await bus.kv(streams.BUCKET_NOTIFY_PENDING)

    async def recorded_as_sent() -> bool:
        return not (await mine(kv, t.tenant.id))[1]
    await wait_until(recorded_as_sent, 30, message="the summary recorded as sent")
    system.kill("notifier")
    offset = log_size(system, "notifier")
    notifier(**env)
    told_before = f"for {t.tenant.id}/daily was sent before".encode()

    def restarted_and_checked() -> bool:
        with (system.data_dir / "notifier.log").open("rb") as log:
            log.seek(offset)
            return told_before in log.read()

    await wait_until(restarted_and_checked, 30, message="the restart to find the mark")
    [summary] = chats.replies(chat)
    assert summary.startswith(f"tradehooks: daily summary of {t.tenant.id} for ")
    assert "• 1 fill(s)\n• 2 failed signal(s)" in summary


async def test_a_strategy_added_from_telegram_takes_alerts(
        system: System, bus: Bus, tap: EventTap, chats: FakeChats,
        notifier: Callable[..., None]) -> None:
    """The DAI flow: /add_strategy in a private chat answers the webhook URL and the
    TradingView message; an alert to that URL with that token trades."""
    remember_secret(TOKEN)
    t = await provision(bus)
    chat = 4242
    notifier(TRADEHOOKS_TELEGRAM_API_URL=chats.url,
                 TRADEHOOKS_TELEGRAM_BOT_TOKEN=TOKEN,
                 TRADEHOOKS_TELEGRAM_ADMINS=f"{chat}={t.tenant.id}:admin",
                 TRADEHOOKS_TELEGRAM_POLL_S="1")
    chats.say(chat, "/add_strategy DynamicGoldBreakout")
    await wait_until(lambda: chats.replies(chat), 30, message="the bot's answer")
    [answer] = chats.replies(chat)
    url = answer.split("Webhook URL: ", 1)[1].split("\n", 1)[0]
    assert url == f"{system.api_url}/webhook/{t.tenant.id}/dynamic-goldbreakout"
    message = json.loads(answer.split("TradingView message:\n", 1)[1])
    assert message["token"].startswith("whsec_")
    async with aiohttp.ClientSession() as http:
        status, accepted = await post_json(
            http, url, {**tv_alert(symbol="ACME", price="100"), "token": message["token"]})
        assert status == 202, accepted
        done = await tap.wait_terminal(accepted["signal_id"])
    assert isinstance(done, TradeExecuted) and done.account_id == t.account.id
