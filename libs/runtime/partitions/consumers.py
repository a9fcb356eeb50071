"""Consumers of the partitions this instance owns (a Runnable for run_consumers).

For each partition gained, ``make(partition)`` builds the service's consumers of it
(``streams.for_partition``: durable ``risk-p07``, filtered to partition 7), run in a
context whose tenure fences their account-state writes; a partition lost or given
away stops them (the in-flight messages are finished and acked, or given back).
Consumers of one partition start with the restart rule (libs/runtime/restart.py):
messages a previous owner still held come back first.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from libs.runtime.bus import Bus
from libs.runtime.config import Settings
from libs.runtime.consumer import Consumer
from libs.runtime.partitions.assignment import partition_of
from libs.runtime.partitions.fence import CURRENT_TENURE, Tenure
from libs.runtime.partitions.ownership import Ownership

log = logging.getLogger(__name__)
STOP_GRACE_S = 9.0


def instance_name(settings: Settings) -> str:
    """This process's name among its service's instances: unique per start."""
    if settings.instance_id:
        return settings.instance_id
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class _Running:
    consumers: list[Consumer]
    stop: asyncio.Event
    task: asyncio.Task[None]


class PartitionedConsumers:
    """Runs ``make(partition)``'s consumers for every partition this instance owns."""

    def __init__(self, bus: Bus, service: str, partitions: int, settings: Settings,
                 make: Callable[[int], list[Consumer]]) -> None:
        self.partitions = partitions
        self._make = make
        self._running: dict[int, _Running] = {}
        self.ownership = Ownership(bus, service, partitions, instance_name(settings),
                                   settings.partition_lease_s, self._start, self._stop)

    def owns_account(self, tenant_token: str, account_token: str) -> bool:
        """This instance owns the partition of the account (subject tokens)."""
        return self.ownership.owns(partition_of(tenant_token, account_token, self.partitions))

    def on_reconnected(self) -> None:
        """Rebuild the pull subscriptions of every running consumer."""
        for running in self._running.values():
            for consumer in running.consumers:
                consumer.on_reconnected()

    async def run(self, stop: asyncio.Event) -> None:
        """Own partitions until ``stop``; then stop their consumers, give them back."""
        await self.ownership.run(stop)

    async def _start(self, partition: int, epoch: int) -> None:
        # An earlier tenure's consumers, if still there, are stopped first, by the new
        # task: the ownership round that called us must not wait for them.
        earlier = self._running.pop(partition, None)
        if earlier is not None:
            earlier.stop.set()
        consumers = self._make(partition)
        stop = asyncio.Event()
        context = contextvars.copy_context()
        context.run(CURRENT_TENURE.set, Tenure(partition, epoch, self.ownership))
        task = asyncio.create_task(self._run_all(consumers, stop, earlier), context=context)
        self._running[partition] = _Running(consumers, stop, task)

    @staticmethod
    async def _run_all(consumers: list[Consumer], stop: asyncio.Event,
                       earlier: _Running | None) -> None:
        if earlier is not None:
            try:
                await asyncio.wait_for(asyncio.shield(earlier.task), STOP_GRACE_S)
            except TimeoutError:
                earlier.task.cancel()
            except Exception:
                log.exception("a consumer of an earlier tenure failed")
        if not stop.is_set():
            await asyncio.gather(*(consumer.run(stop) for consumer in consumers))

    async def _stop(self, partition: int) -> None:
        running = self._running.pop(partition, None)
        if running is None:
            return
        running.stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(running.task), STOP_GRACE_S)
        except TimeoutError:
            log.warning("partition %d: consumers still busy; cancelling", partition)
            running.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running.task
        except Exception:
            log.exception("partition %d: a consumer failed", partition)
