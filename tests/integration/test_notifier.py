"""The notifier's sending against local fakes: the Telegram Bot API, Discord and
Slack incoming webhooks and an SMTP server on loopback; a burst is one message, a
failing endpoint is retried, secrets never reach the logs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import pytest
from fakes.chat_servers import FakeChats, FakeSmtp
from fakes.dns import resolve_everything_to
from harness import wait_until
from nats.js.errors import NotFoundError

from contracts import streams
from contracts.events import TradeExecuted, WebhookFailed
from libs.callbacks.outbound import outbound_session
from libs.notify.day_counts import StreamDayCounts
from libs.notify.pending import BatchRecord, KvPending, MemoryPending
from libs.notify.summary_marks import KvSummaryMarks
from libs.registry.kv_keys import matching_keys
from libs.registry.models import NotificationChannel, Tenant
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from libs.runtime.consumer import Consumer
from services.notifier.handlers import Notifier
from services.notifier.senders import Senders
from services.notifier.telegram_api import TelegramBots
from tests.factories import make_fill

TOKEN = "123456:telegram-bot-token"
_ids = itertools.count()


class OneTenant:
    """The registry as the notifier reads it: one tenant."""

    def __init__(self, tenant: Tenant) -> None:
        self.record = tenant

    async def tenant(self, tenant_id: str) -> Tenant | None:
        return self.record if tenant_id == self.record.id else None

    async def tenants(self) -> list[Tenant]:
        return [self.record]


class Evening:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC).replace(hour=20, minute=0)

    def now(self) -> datetime:
        return self.at


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def sending(chats: FakeChats) -> AsyncIterator[Senders]:
    """Senders to the fakes: Telegram through python-telegram-bot at the fake's URL,
    webhooks through the guarded session (literal loopback allowed)."""
    telegram = TelegramBots(chats.url, 5)
    async with outbound_session(5) as hooks:
        try:
            yield Senders(telegram, 5, True, hooks=hooks)
        finally:
            await telegram.close()


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


def channels(chats: FakeChats, smtp: FakeSmtp) -> list[NotificationChannel]:
    common: dict[str, Any] = {"collapse_s": 5, "min_interval_s": 60}
    return [NotificationChannel(name="tg", kind="telegram", secret=TOKEN, chat_id="42",
                                **common),
            NotificationChannel(name="dc", kind="discord", topics=["failures"],
                                secret=f"{chats.url}/api/webhooks/1/discord-secret", **common),
            NotificationChannel(name="sl", kind="slack", topics=["failures"],
                                secret=f"{chats.url}/services/T1/B1/slack-secret", **common),
            NotificationChannel(name="mail", kind="email", topics=["failures"],
                                to=["ops@example.test"], mail_from="th@example.test",
                                smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none",
                                **common)]


def failed(occurred_at: datetime | None = None) -> WebhookFailed:
    n = next(_ids)
    return WebhookFailed(event_id=f"f{n}", signal_id=f"sig{n}", tenant_id="t1",
                         occurred_at=occurred_at or datetime.now(UTC), strategy_id="bot",
                         account_id="acc", stage="risk", code="symbol_not_allowed",
                         reason="XYZ is not allowed")


def filled() -> TradeExecuted:
    return TradeExecuted(event_id="x1", signal_id="sx", tenant_id="t1",
                         occurred_at=datetime.now(UTC), strategy_id="bot", account_id="acc",
                         broker="paper", fill=make_fill(symbol="ACME"))


async def test_a_burst_of_failures_is_one_message_on_every_channel(
        chats: FakeChats, smtp: FakeSmtp, caplog: pytest.LogCaptureFixture) -> None:
    ticks = Ticks()
    tenant = Tenant(id="t1", name="T", notifications=channels(chats, smtp))
    async with sending(chats) as senders:
        notifier = Notifier(OneTenant(tenant), senders,  # type: ignore[arg-type]
                            SystemClock(), max_age_s=600, monotonic=ticks)
        await notifier.handle(filled())
        for _ in range(7):
            await notifier.handle(failed())
            ticks.now += 0.5
        assert await notifier.flush(ticks.now) == 0  # still inside the collapse window
        ticks.now += 5
        assert await notifier.flush(ticks.now) == 5  # fills on tg; failures on all four
        await notifier.handle(failed())
        ticks.now += 10
        assert await notifier.flush(ticks.now) == 0  # the interval holds the next one
    telegram = chats.of("telegram")
    assert [p.path for p in telegram] == [f"/bot{TOKEN}/sendMessage"] * 2
    assert {p.body["chat_id"] for p in telegram} == {"42"}
    texts = sorted(p.body["text"] for p in telegram)
    assert texts[0].startswith("tradehooks: 7 failed signals")
    assert texts[1].startswith("tradehooks: Fill\nbuy")
    assert chats.of("discord")[0].body["content"].startswith("tradehooks: 7 failed signals")
    assert chats.of("slack")[0].body["text"].count("symbol_not_allowed") == 7
    await wait_until(lambda: smtp.mails, 5, message="the mail")
    [mail] = smtp.mails
    assert mail["Subject"] == "tradehooks: 7 failed signals"
    assert mail["To"] == "ops@example.test"
    assert TOKEN not in caplog.text and "secret" not in caplog.text


async def test_a_failing_endpoint_is_retried_and_old_events_are_not_told(
        chats: FakeChats, smtp: FakeSmtp, caplog: pytest.LogCaptureFixture) -> None:
    tg = channels(chats, smtp)[0].model_copy(update={"collapse_s": 0.0})
    ticks = Ticks()
    async with sending(chats) as senders:
        notifier = Notifier(OneTenant(Tenant(id="t1", name="T", notifications=[tg])),  # type: ignore[arg-type]
                            senders, SystemClock(),
                            max_age_s=600, monotonic=ticks)
        await notifier.handle(failed(datetime.now(UTC) - timedelta(hours=1)))
        assert notifier.collapser.pending() == 0
        chats.fail_next = 1
        await notifier.handle(failed())
        assert await notifier.flush(ticks.now) == 0  # answered 500: kept, tried again
        assert await notifier.flush(ticks.now + 0.5) == 0  # ... after its backoff
        assert await notifier.flush(ticks.now + 1) == 1
        assert notifier.outbox == {}
    assert len(chats.of("telegram")) == 1
    assert "telegram refused or unreachable" in caplog.text and TOKEN not in caplog.text


async def test_discord_and_slack_urls_to_private_addresses_are_refused(
        chats: FakeChats, caplog: pytest.LogCaptureFixture) -> None:
    channel = NotificationChannel(name="dc", kind="discord", collapse_s=0,
                                  secret="https://10.0.0.5/api/webhooks/1/x")
    ticks = Ticks()
    async with sending(chats) as senders:
        notifier = Notifier(OneTenant(Tenant(id="t1", name="T", notifications=[channel])),  # type: ignore[arg-type]
                            senders, SystemClock(),
                            max_age_s=600, monotonic=ticks)
        await notifier.handle(failed())
        assert await notifier.flush(ticks.now) == 0
        assert notifier.outbox == {}  # refused for good: not tried again
    assert "webhook refused" in caplog.text and chats.posted == []


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254"])
async def test_discord_and_slack_names_that_resolve_to_private_addresses_are_refused(
        chats: FakeChats, caplog: pytest.LogCaptureFixture, address: str) -> None:
    """A webhook URL naming a host whose DNS answers a loopback, private or metadata
    address is refused when the notifier connects (the dispatcher's guarded resolver),
    even with literal loopback allowed; nothing reaches the server, it is not retried,
    and the log names the address but not the URL's secret path."""
    dc, sl = (NotificationChannel(
        name=kind, kind=kind, collapse_s=0, topics=["failures"],  # type: ignore[arg-type]
        secret=f"https://hooks.example:{chats.port}/{kind}/secret-path-{kind}")
        for kind in ("discord", "slack"))
    ticks = Ticks()
    async with sending(chats) as senders:
        resolve_everything_to(senders.hooks, address)
        notifier = Notifier(OneTenant(Tenant(id="t1", name="T", notifications=[dc, sl])),  # type: ignore[arg-type]
                            senders, SystemClock(),
                            max_age_s=600, monotonic=ticks)
        await notifier.handle(failed())
        assert await notifier.flush(ticks.now) == 0
        assert notifier.outbox == {}  # refused for good
    assert chats.posted == []
    assert caplog.text.count(f"resolves to {address}") == 2
    assert "secret-path" not in caplog.text


async def test_the_daily_summary_counts_the_day_at_its_hour(chats: FakeChats) -> None:
    clock = Evening()
    channel = NotificationChannel(name="tg", kind="telegram", secret=TOKEN, chat_id="42",
                                  topics=["daily_summary"])
    async with sending(chats) as senders:
        notifier = Notifier(OneTenant(Tenant(id="t1", name="T", notifications=[channel])),  # type: ignore[arg-type]
                            senders, clock,
                            max_age_s=10**9, summary_hour=21)
        for event in (filled(), failed(clock.at), failed(clock.at)):
            await notifier.handle(msgspec.structs.replace(event, occurred_at=clock.at))
        assert notifier.collapser.pending() == 0  # the channel wants only the summary
        assert await notifier.summarise() == 0  # 20:00: not yet
        clock.at += timedelta(hours=1)
        assert await notifier.summarise() == 1
        assert await notifier.summarise() == 0  # once a day
    [told] = chats.replies(42)
    assert told.startswith(f"tradehooks: daily summary of t1 for {clock.at.date()}")
    assert "• 1 fill(s)\n• 2 failed signal(s)" in told


class CrashAfterSending(MemoryPending):
    """Records like the KV store, but the process 'dies' when it would forget a sent
    batch (the duplicate window)."""

    async def sent(self, batch: BatchRecord) -> None:
        raise SystemExit("killed after the channel took the batch")


async def test_a_crash_after_sending_repeats_the_same_message_once(
        chats: FakeChats, smtp: FakeSmtp) -> None:
    """The documented duplicate window: the channel took the batch, the process died
    before forgetting it. The next notifier sends it again as the same message (same
    text; an e-mail keeps its Message-ID), and only once."""
    mail = channels(chats, smtp)[3]
    tenant = OneTenant(Tenant(id="t1", name="T", notifications=[mail]))
    pending = CrashAfterSending()
    ticks = Ticks()
    async with sending(chats) as senders:
        first = Notifier(tenant, senders,  # type: ignore[arg-type]
                         SystemClock(), max_age_s=600, monotonic=ticks, pending=pending)
        for _ in range(3):
            await first.handle(failed())
        with pytest.raises(SystemExit):
            await first.flush(ticks.now + 5)
        await wait_until(lambda: len(smtp.mails) == 1, 5, message="the first mail")
        survivor = MemoryPending()
        survivor.notices, survivor.batches = pending.notices, pending.batches
        second = Notifier(tenant, senders,  # type: ignore[arg-type]
                          SystemClock(), max_age_s=600, monotonic=ticks, pending=survivor)
        assert await second.restore() == 1
        assert await second.flush(ticks.now) == 1
        assert await second.flush(ticks.now + 1000) == 0
        assert survivor.batches == {} and survivor.notices == {}
    await wait_until(lambda: len(smtp.mails) == 2, 5, message="the repeat")
    one, again = smtp.mails
    assert one["Subject"] == again["Subject"] == "tradehooks: 3 failed signals"
    assert one["Message-ID"] == again["Message-ID"] and one["Message-ID"]


async def test_notices_recorded_in_kv_survive_a_notifier_that_vanished(
        bus: Bus, chats: FakeChats, smtp: FakeSmtp) -> None:
    """Three failures gathered (and so acked) by a notifier that then vanishes without
    sending; the next one, on the same KV bucket, collapses them with two more into
    one message. A repeated event (redelivered) is not counted twice."""
    discord = channels(chats, smtp)[1]
    tenant = OneTenant(Tenant(id="t1", name="T", notifications=[discord]))
    kv = await bus.kv(streams.BUCKET_NOTIFY_PENDING)
    ticks = Ticks()
    burst = [failed() for _ in range(5)]
    async with sending(chats) as senders:
        lost = Notifier(tenant, senders,  # type: ignore[arg-type]
                        SystemClock(), max_age_s=600, monotonic=ticks, pending=KvPending(kv))
        for event in burst[:3]:
            await lost.handle(event)
        assert len(await matching_keys(kv, "n.>")) == 3
        ticks.now += 2
        survivor = Notifier(tenant, senders,  # type: ignore[arg-type]
                            SystemClock(), max_age_s=600, monotonic=ticks, pending=KvPending(kv))
        assert await survivor.restore() == 3
        for event in burst[2:]:  # burst[2] again: a redelivery of an acked event
            await survivor.handle(event)
        assert await survivor.flush(ticks.now) == 0  # its window just opened
        ticks.now += 5
        assert await survivor.flush(ticks.now) == 1
        assert await matching_keys(kv, "n.>") == await matching_keys(kv, "b.>") == []
    [told] = chats.of("discord")
    assert told.body["content"].startswith("tradehooks: 5 failed signals")
    assert all(e.signal_id in told.body["content"] for e in burst)


class MarkCrash(KvSummaryMarks):
    """The KV marks, but the process 'dies' when it would mark a summary it cut."""

    async def mark(self, tenant_id: str, channel: str, day: date) -> None:
        raise SystemExit("killed between cutting the summary and marking it")


def summary_notifier(bus: Bus, tenant: OneTenant, senders: Senders, clock: Evening,
                     marks: KvSummaryMarks) -> Notifier:
    """A notifier as the service builds one: pending notices, summary marks and the
    day's counts in NATS."""
    return Notifier(tenant, senders, clock,  # type: ignore[arg-type]
                    max_age_s=10**9, summary_hour=21, pending=KvPending(marks.pending_kv),
                    day_counts=StreamDayCounts(bus), marks=marks)


async def test_the_daily_summary_counts_the_day_once_across_kills_and_restarts(
        bus: Bus, chats: FakeChats) -> None:
    """A notifier consumes part of the day and is killed; more events come while it is
    down; the next one, after the hour, sums the whole day once from the stream. A
    notifier killed between cutting the summary and marking it, and two more
    restarted after the hour, still give the channel exactly one summary."""
    clock = Evening()
    tg = NotificationChannel(name="tg", kind="telegram", secret=TOKEN, chat_id="42",
                             topics=["daily_summary"])
    tenant = OneTenant(Tenant(id="t1", name="T", notifications=[tg]))
    pending_kv = await bus.kv(streams.BUCKET_NOTIFY_PENDING)
    marks_kv = await bus.kv(streams.BUCKET_NOTIFY_SUMMARIES)

    def marks(kind: type[KvSummaryMarks] = KvSummaryMarks) -> KvSummaryMarks:
        made = kind(marks_kv)
        made.pending_kv = pending_kv  # type: ignore[attr-defined]
        return made

    day = [msgspec.structs.replace(e, occurred_at=clock.at) for e in
           (filled(), failed(), failed(), failed())]
    other = msgspec.structs.replace(failed(), tenant_id="t2", occurred_at=clock.at)
    yesterday = msgspec.structs.replace(failed(), occurred_at=clock.at - timedelta(days=1))
    for event in (*day[:2], other, yesterday):
        await bus.publish_event(event, event.event_id)
    spec = dataclasses.replace(streams.NOTIFIER, ack_wait_s=1.0)
    async with sending(chats) as senders:
        first = summary_notifier(bus, tenant, senders, clock, marks())
        consuming = asyncio.create_task(Consumer(bus, spec, first.handle).run(asyncio.Event()))

        async def consumed() -> bool:
            try:
                info = await bus.js.consumer_info(streams.STREAM, spec.durable)
            except NotFoundError:
                return False  # not subscribed yet
            return info.num_pending == 0 and info.num_ack_pending == 0 and \
                info.delivered.stream_seq > 0

        await wait_until(consumed, 10, message="the morning consumed")
        consuming.cancel()  # killed: no stop, no flush
        with contextlib.suppress(asyncio.CancelledError):
            await consuming
        for event in day[2:]:  # while no notifier runs
            await bus.publish_event(event, event.event_id)
        await bus.publish_event(day[1], day[1].event_id)  # a repeat: JetStream drops it
        clock.at += timedelta(hours=1)
        crashing = summary_notifier(bus, tenant, senders, clock, marks(MarkCrash))
        await crashing.restore()
        with pytest.raises(SystemExit):
            await crashing.summarise()
        assert chats.replies(42) == []  # cut, not marked: not sent
        again = summary_notifier(bus, tenant, senders, clock, marks())
        assert await again.restore() == 1  # the cut summary, marked now
        assert await again.summarise() == 0  # marked: not cut again
        assert await again.flush(again.monotonic()) == 1
        for _ in range(2):  # restarted after the hour, twice
            later = summary_notifier(bus, tenant, senders, clock, marks())
            assert await later.restore() == 0
            assert await later.summarise() == 0
            assert await later.flush(later.monotonic()) == 0
    [told] = chats.replies(42)
    assert told.startswith(f"tradehooks: daily summary of t1 for {clock.at.date()}")
    assert "• 1 fill(s)\n• 3 failed signal(s)\n• 0 breaker trip(s)" in told


async def test_the_rate_limit_runs_on_across_a_restart(
        bus: Bus, chats: FakeChats, smtp: FakeSmtp) -> None:
    """A message went out just before the notifier stopped; the next notifier, on the
    same KV bucket, holds the next burst until the channel's interval has passed since
    that message (it used to send at once: twice the allowed rate across a restart)."""
    discord = channels(chats, smtp)[1]  # collapse 5 s, at most one message a minute
    tenant = OneTenant(Tenant(id="t1", name="T", notifications=[discord]))
    kv = await bus.kv(streams.BUCKET_NOTIFY_PENDING)
    ticks = Ticks()
    async with sending(chats) as senders:
        first = Notifier(tenant, senders,  # type: ignore[arg-type]
                         SystemClock(), max_age_s=600, monotonic=ticks, pending=KvPending(kv))
        await first.handle(failed())
        assert await first.flush(ticks.now + 5) == 1
        second = Notifier(tenant, senders,  # type: ignore[arg-type]
                          SystemClock(), max_age_s=600, monotonic=ticks, pending=KvPending(kv))
        assert await second.restore() == 0  # nothing pending; the last cut is known
        await second.handle(failed())
        assert await second.flush(ticks.now + 10) == 0  # collapsed, held by the interval
        assert await second.flush(ticks.now + 40) == 0
        assert await second.flush(ticks.now + 61) == 1
    assert len(chats.of("discord")) == 2
