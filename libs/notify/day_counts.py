"""Where the daily summary's counts come from.

:class:`StreamDayCounts` (production) reads them from the stream when a summary is
made: every notified event of the day, each message once, whatever the notifier did
meanwhile (a restart, a crash between gathering and acking, a backlog not yet
consumed). :class:`LiveDayCounts` counts what the notifier gathers, in memory (tests,
a notifier without NATS; a restart forgets it).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

import msgspec
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from contracts import streams
from contracts.events import Event, decode_event
from libs.notify.summary import DailyTally
from libs.runtime.bus import Bus

# Producers stamp ``occurred_at`` a moment before the stream stores the event: the
# read starts this much before midnight (earlier events are then left out by day).
CLOCK_SKEW_S = 300.0
FETCH = 512


class DayCounts(Protocol):
    """Every tenant's notified events of a day, per topic."""

    def seen(self, event: Event) -> None:
        """The notifier gathered ``event`` (acked next)."""

    async def of_day(self, day: date) -> dict[str, Counter[str]]:
        """The counts of ``day``, per tenant."""


class LiveDayCounts:
    """Counts of the events gathered by this process."""

    def __init__(self) -> None:
        self.tally = DailyTally()

    def seen(self, event: Event) -> None:
        """Count it (once per event id)."""
        self.tally.count(event)

    async def of_day(self, day: date) -> dict[str, Counter[str]]:
        """What this process gathered of ``day``."""
        return self.tally.of_day(day)


class StreamDayCounts:
    """Counts read from the stream: the notifier's subjects from the day's midnight
    (less :data:`CLOCK_SKEW_S`) to the stream's last message when the read starts."""

    def __init__(self, bus: Bus, filter_subjects: tuple[str, ...] =
                 streams.NOTIFIER.filter_subjects) -> None:
        self.bus = bus
        self.filter_subjects = filter_subjects
        self.read = 0  # messages read by the last call (for the log)

    def seen(self, event: Event) -> None:
        """Nothing to do: the stream has it."""

    async def of_day(self, day: date) -> dict[str, Counter[str]]:
        """Read the day from the stream through a short-lived consumer."""
        js = self.bus.js
        last = (await js.stream_info(streams.STREAM)).state.last_seq
        start = datetime.combine(day, time(0), UTC) - timedelta(seconds=CLOCK_SKEW_S)
        info = await js.add_consumer(streams.STREAM, ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start,
            filter_subjects=list(self.filter_subjects), ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0, mem_storage=True, num_replicas=1))
        tally, self.read = DailyTally(), 0
        try:
            if info.num_pending == 0:
                return {}
            sub = await js.pull_subscribe_bind(consumer=info.name, stream=streams.STREAM)
            try:
                while await self._read_batch(sub, tally, last):
                    pass
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        finally:
            with contextlib.suppress(Exception):  # else it lapses after 60 s idle
                await js.delete_consumer(streams.STREAM, info.name)
        return tally.of_day(day)

    async def _read_batch(self, sub: JetStreamContext.PullSubscription, tally: DailyTally,
                          last: int) -> bool:
        """Count one fetched batch; False when the read reached ``last`` (or ran dry)."""
        try:
            msgs = await sub.fetch(FETCH, timeout=2.0)
        except (TimeoutError, nats.errors.TimeoutError):
            return False
        for msg in msgs:
            self.read += 1
            with contextlib.suppress(msgspec.DecodeError):  # not an event: not counted
                tally.count(decode_event(msg.data))
            meta = msg.metadata
            if meta.sequence.stream >= last or meta.num_pending == 0:
                return False
        return True
