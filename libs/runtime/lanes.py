"""Ordered lanes: work runs in order within one key and concurrently across keys.

The consumer puts every fetched message into the lane of its ordering key (the
tenant and account tokens of its subject). One task per non-empty lane works
through it front to back, so a message that is being retried holds up only the
messages of its own key; every other key keeps moving. With ``work_many`` a lane
hands over everything queued at its front at once (up to ``max_batch``), so the
consumer can publish their outputs together.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# ``work`` returns False when it gave its item back unfinished (e.g. shutting down
# while waiting to retry); the lane then gives back the items queued behind it too,
# in order, instead of letting them overtake the one that was given back.
Work = Callable[[T], Awaitable[bool]]
GiveBack = Callable[[T], Awaitable[None]]
# Works through the front items of a lane in order; returns how many of them it
# finished. Fewer than it was given: it gave the next one back unfinished itself,
# and the lane gives back everything queued behind that one too.
WorkMany = Callable[[list[T]], Awaitable[int]]


class Lanes(Generic[T]):
    """At most ``limit`` items held at once, in FIFO lanes keyed by a string."""

    def __init__(self, work: Work[T], give_back: GiveBack[T], limit: int,
                 work_many: WorkMany[T] | None = None, max_batch: int = 64) -> None:
        self._work = work
        self._work_many = work_many
        self.max_batch = max_batch
        self._give_back = give_back
        self.limit = limit
        self._lanes: dict[str, deque[T]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._held = 0
        self._room = asyncio.Event()
        self._room.set()
        self._empty = asyncio.Event()
        self._empty.set()

    @property
    def free(self) -> int:
        """How many more items may be put before the lanes are full."""
        return max(self.limit - self._held, 0)

    def held(self) -> Iterator[T]:
        """Every item not finished yet (being worked on or waiting in its lane)."""
        for lane in list(self._lanes.values()):
            yield from list(lane)

    def put(self, key: str, item: T) -> None:
        """Queue ``item`` behind the other items of ``key``; never blocks (see ``free``)."""
        lane = self._lanes.setdefault(key, deque())
        lane.append(item)
        self._held += 1
        self._empty.clear()
        if self._held >= self.limit:
            self._room.clear()
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._drain(key, lane))

    async def wait_for_room(self, stop: asyncio.Event) -> None:
        """Return once an item may be put, or ``stop`` is set."""
        if self._room.is_set() or stop.is_set():
            return
        waiters = [asyncio.create_task(self._room.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for every lane to empty; False if some did not.

        Lanes still busy after the timeout are cancelled: their items stay
        unacknowledged, and JetStream redelivers them after the ack wait.
        """
        try:
            await asyncio.wait_for(self._empty.wait(), timeout)
            return True
        except TimeoutError:
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            return False

    async def _drain(self, key: str, lane: deque[T]) -> None:
        try:
            while lane:
                if self._work_many is None:
                    taken, finished = 1, int(await self._work(lane[0]))
                else:
                    front = list(itertools.islice(lane, self.max_batch))
                    taken, finished = len(front), await self._work_many(front)
                for _ in range(finished):
                    self._done(lane)
                if finished < taken:  # work gave the next one back: the rest goes too
                    self._done(lane)
                    while lane:
                        await self._give_back(lane[0])
                        self._done(lane)
        except Exception:  # work handles its own errors; this is a bug, keep going
            log.exception("lane %s stopped on an unexpected error", key)
        finally:
            self._tasks.pop(key, None)
            if lane:  # cancelled or crashed with items left: they stay unacked
                self._held -= len(lane)
                lane.clear()
            self._lanes.pop(key, None)
            self._settle()

    def _done(self, lane: deque[T]) -> None:
        lane.popleft()
        self._held -= 1
        self._settle()

    def _settle(self) -> None:
        if self._held < self.limit:
            self._room.set()
        if self._held == 0:
            self._empty.set()
