"""The daily summary's bookkeeping against a simple model (hypothesis, stateful):
events come, hours pass, the notifier ticks, crashes at any step of making a summary
(cutting its batch, marking it told, sending it) and restarts on the same durable
records. Whatever the order, a channel is given a day's summary at most once, right
after a clean tick past the hour it has been given it, and its counts are the day's
events at the moment it was made (none missed, none twice)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from contracts.events import Event, WebhookFailed
from libs.notify.messages import Message
from libs.notify.pending import BatchRecord, MemoryPending
from libs.notify.summary import DailyTally, summary_message
from libs.notify.summary_marks import MemorySummaryMarks
from libs.registry.models import NotificationChannel, Tenant
from services.notifier.handlers import Notifier

HOUR = 21
START = datetime(2026, 1, 5, 18, tzinfo=UTC)
CHANNELS = [NotificationChannel(name=name, kind="telegram", secret="1:x", chat_id="7",
                                topics=["daily_summary"]) for name in ("desk", "ops")]
TENANT = Tenant(id="t1", name="T", notifications=CHANNELS)


class Crash(BaseException):
    """The process dies here."""


class Hazards:
    """The step at which the process dies next (once)."""

    def __init__(self) -> None:
        self.at: str | None = None

    def check(self, step: str) -> None:
        if self.at == step:
            self.at = None
            raise Crash(step)


class Registry:
    async def tenant(self, tenant_id: str) -> Tenant | None:
        return TENANT if tenant_id == TENANT.id else None

    async def tenants(self) -> list[Tenant]:
        return [TENANT]


class Clock:
    def __init__(self) -> None:
        self.at = START

    def now(self) -> datetime:
        return self.at


class Chats:
    """Channels that take every message (after the hazard's chance to kill first)."""

    def __init__(self, hazards: Hazards) -> None:
        self.hazards = hazards
        self.told: list[tuple[str, Message]] = []

    async def send(self, channel: NotificationChannel, message: Message) -> None:
        self.hazards.check("send")
        self.told.append((channel.name, message))


class Pending(MemoryPending):
    def __init__(self, hazards: Hazards) -> None:
        super().__init__()
        self.hazards = hazards

    async def cut(self, batch: BatchRecord) -> None:
        self.hazards.check("cut")
        await super().cut(batch)


class Marks(MemorySummaryMarks):
    def __init__(self, hazards: Hazards) -> None:
        super().__init__()
        self.hazards = hazards

    async def mark(self, tenant_id: str, channel: str, day: date) -> None:
        self.hazards.check("mark")
        await super().mark(tenant_id, channel, day)


class Stream:
    """The day's counts as the stream gives them: every event appended so far."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def seen(self, event: Event) -> None:
        pass

    async def of_day(self, day: date) -> dict[str, Counter[str]]:
        tally = DailyTally()
        for event in self.events:
            tally.count(event)
        return tally.of_day(day)


class SummaryBookkeeping(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.hazards = Hazards()
        self.clock = Clock()
        self.stream = Stream()
        self.pending = Pending(self.hazards)
        self.marks = Marks(self.hazards)
        self.chats = Chats(self.hazards)
        # The model: failures per day, and the summaries a tick past the hour could
        # have made of each day (its counts at that moment).
        self.failures: Counter[date] = Counter()
        self.possible: dict[date, set[str]] = {}
        self.clean_tick_after_hour: date | None = None
        self.ticks = 0
        self.notifier = self._start()

    def _start(self) -> Notifier:
        while True:
            notifier = Notifier(Registry(), self.chats, self.clock,  # type: ignore[arg-type]
                                max_age_s=10**9, summary_hour=HOUR, pending=self.pending,
                                day_counts=self.stream, marks=self.marks,
                                monotonic=self._seconds)
            try:
                self.loop.run_until_complete(notifier.restore())
            except Crash:
                continue  # died while starting: start again
            return notifier

    def _seconds(self) -> float:
        """The notifier's monotonic clock: far enough on at every tick that whatever
        was cut is due."""
        self.ticks += 1
        return self.ticks * 1000.0

    def teardown(self) -> None:
        self.loop.close()

    @rule(n=st.integers(1, 3))
    def failures_come(self, n: int) -> None:
        for _ in range(n):
            k = len(self.stream.events)
            self.stream.events.append(WebhookFailed(
                event_id=f"e{k}", signal_id=f"s{k}", tenant_id="t1",
                occurred_at=self.clock.at, stage="risk", code="x", reason="y"))
            self.failures[self.clock.at.date()] += 1

    @rule(hours=st.integers(1, 9))
    def time_passes(self, hours: int) -> None:
        self.clock.at += timedelta(hours=hours)
        self.clean_tick_after_hour = None

    @rule(step=st.sampled_from(["cut", "mark", "send"]))
    def the_next_step_kills(self, step: str) -> None:
        self.hazards.at = step

    @rule()
    def tick(self) -> None:
        today = self.clock.at.date()
        if self.clock.at.hour >= HOUR:
            counts = Counter({"failures": self.failures[today]}) if self.failures[today] \
                else Counter()
            self.possible.setdefault(today, set()).add(
                summary_message("t1", today, counts).body)
        try:
            self.loop.run_until_complete(self.notifier.tick())
        except Crash:
            self.notifier = self._start()
            self.clean_tick_after_hour = None
            return
        self.clean_tick_after_hour = today if self.clock.at.hour >= HOUR else None

    @rule()
    def restart(self) -> None:
        self.notifier = self._start()

    @invariant()
    def each_channel_is_told_a_day_at_most_once_with_its_counts(self) -> None:
        told = Counter((name, message.title) for name, message in self.chats.told)
        assert all(n == 1 for n in told.values()), told
        for _, message in self.chats.told:
            day = date.fromisoformat(message.title.rsplit(" ", 1)[1])
            assert message.body in self.possible.get(day, set())

    @precondition(lambda self: self.clean_tick_after_hour is not None)
    @invariant()
    def after_a_clean_tick_past_the_hour_every_channel_was_told(self) -> None:
        day = self.clean_tick_after_hour
        titles = {(name, m.title) for name, m in self.chats.told}
        for channel in CHANNELS:
            assert (channel.name, f"tradehooks: daily summary of t1 for {day}") in titles


SummaryBookkeeping.TestCase.settings = settings(max_examples=150, stateful_step_count=30,
                                                deadline=None)
test_summary_bookkeeping = SummaryBookkeeping.TestCase
