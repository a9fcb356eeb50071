"""Partition leases on NATS KV: the I/O of :mod:`.leases`.

Every round (a third of the lease) an instance writes its heartbeat
(``th_members``, key ``<service>.<instance>``), reads the live members and the
partitions' leases (``th_partitions``, key ``<service>.<partition>``), and carries out
its :func:`~.leases.plan`: claims, renewals and releases, each a compare-and-set on the
key's revision. A partition gained starts its consumers (``on_gained``); one lost or
given away stops them (``on_lost``: the in-flight batch is finished and acked) and,
when given away, the lease is then written expired so the next owner claims at once.
While its consumers stop, the lease is still renewed. A clean stop gives everything
back and removes the heartbeat; a killed instance's partitions move once its
heartbeat and its leases have aged out (about one lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError
from nats.js.kv import KeyValue

from contracts import streams
from libs.runtime.bus import Bus, is_bus_error
from libs.runtime.partitions.leases import (
    Claim,
    Holding,
    Lease,
    Release,
    Renew,
    live_members,
    plan,
)
from libs.runtime.timers import stopped_within

log = logging.getLogger(__name__)


class _LeaseValue(msgspec.Struct, frozen=True):
    owner: str
    epoch: int
    expires_at: float


class _Heartbeat(msgspec.Struct, frozen=True):
    seen_at: float


_encode = msgspec.json.encode
_lease_decoder = msgspec.json.Decoder(_LeaseValue)
_heartbeat_decoder = msgspec.json.Decoder(_Heartbeat)

Gained = Callable[[int, int], Awaitable[None]]
Lost = Callable[[int], Awaitable[None]]


class Ownership:
    """The partitions of one service this instance owns, kept by leases."""

    def __init__(self, bus: Bus, service: str, partitions: int, instance: str,
                 lease_s: float, on_gained: Gained, on_lost: Lost,
                 wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.bus = bus
        self.service = service
        self.partitions = partitions
        self.instance = instance
        self.lease_s = lease_s
        self.round_s = lease_s / 3
        self.margin_s = lease_s / 6
        self._on_gained = on_gained
        self._on_lost = on_lost
        self._wall = wall
        self._monotonic = monotonic
        self.holdings: dict[int, Holding] = {}
        self._stopping: dict[int, asyncio.Task[None]] = {}
        self._leases: KeyValue | None = None
        self._members: KeyValue | None = None

    def can_write(self, partition: int, epoch: int) -> bool:
        """This instance holds ``partition`` under ``epoch`` and may still write."""
        holding = self.holdings.get(partition)
        return holding is not None and holding.epoch == epoch and \
            holding.can_write(self._monotonic())

    def owns(self, partition: int) -> bool:
        """This instance holds ``partition`` now (and is not giving it away)."""
        holding = self.holdings.get(partition)
        return holding is not None and partition not in self._stopping and \
            holding.can_write(self._monotonic())

    async def run(self, stop: asyncio.Event) -> None:
        """Take rounds until ``stop``; then give every partition back."""
        try:
            while not stop.is_set():
                try:
                    await self.take_round()
                except Exception as exc:
                    if not is_bus_error(exc):
                        raise
                    log.warning("%s partitions: round failed (%r)", self.service, exc)
                self._stop_expired()
                if await stopped_within(stop, self.round_s):
                    break
        finally:
            await self.give_back_all()

    async def take_round(self) -> None:
        """Heartbeat, read, and claim, renew or release every partition as planned."""
        if self._leases is None or self._members is None:
            self._leases = await self.bus.kv(streams.BUCKET_PARTITIONS)
            self._members = await self.bus.kv(streams.BUCKET_MEMBERS)
        asked_at, now = self._monotonic(), self._wall()
        await self._members.put(self._member_key(self.instance), _encode(_Heartbeat(now)))
        members = live_members(await self._heartbeats(), now, self.lease_s)
        # The reads, and below the writes, leave together: a round must stay short
        # (a slow one lets leases lapse) even on a busy machine.
        reads = await asyncio.gather(*(self._read(p) for p in range(self.partitions)))
        seen = dict(enumerate(reads))
        steps = plan(self.instance, self.service, self.partitions, members,
                     {p: entry[0] for p, entry in seen.items()}, now, self.lease_s)
        writes: dict[int, Awaitable[bool]] = {}
        wanted: dict[int, Lease] = {}
        for partition in range(self.partitions):
            lease, revision = seen[partition]
            step = steps.get(partition)
            if partition in self._stopping:
                # Its consumers are stopping: keep the lease meanwhile.
                if lease is not None and lease.owner == self.instance and \
                        not lease.expired(now):
                    writes[partition] = self._write(
                        partition, Lease(self.instance, lease.epoch, now + self.lease_s),
                        revision)
                continue
            if isinstance(step, Release):
                self._stop(partition, give_back=True)
            elif isinstance(step, Claim | Renew):
                wanted[partition] = step.lease
                writes[partition] = self._write(partition, step.lease, revision)
            elif partition in self.holdings and (lease is None or
                                                 lease.owner != self.instance):
                self._stop(partition, give_back=False)  # expired and taken
        written = dict(zip(writes, await asyncio.gather(*writes.values()), strict=True))
        for partition, lease in wanted.items():
            await self._claimed_or_renewed(partition, lease, written[partition], asked_at)

    async def _claimed_or_renewed(self, partition: int, lease: Lease, written: bool,
                                  asked_at: float) -> None:
        if not written:
            self._stop(partition, give_back=False)
            return
        holding = Holding.after_write(lease, asked_at, self.lease_s, self.margin_s)
        before = self.holdings.get(partition)
        self.holdings[partition] = holding
        if before is None or before.epoch != holding.epoch:
            log.info("%s %s owns partition %d (epoch %d)", self.service, self.instance,
                     partition, holding.epoch)
            await self._on_gained(partition, holding.epoch)

    def _stop_expired(self) -> None:
        """Partitions whose lease this instance could not renew in time: stop."""
        now = self._monotonic()
        for partition, holding in list(self.holdings.items()):
            if not holding.can_write(now) and partition not in self._stopping:
                log.warning("%s %s lost partition %d (lease not renewed in time)",
                            self.service, self.instance, partition)
                self._stop(partition, give_back=False)

    def _stop(self, partition: int, give_back: bool) -> None:
        if partition not in self.holdings or partition in self._stopping:
            return
        self._stopping[partition] = asyncio.create_task(self._stop_then(partition, give_back))

    async def _stop_then(self, partition: int, give_back: bool) -> None:
        try:
            await self._on_lost(partition)
            if give_back:
                await self._give_back(partition)
        except Exception as exc:
            log.warning("%s partition %d: giving back failed (%r)", self.service, partition,
                        exc)
        finally:
            self.holdings.pop(partition, None)
            self._stopping.pop(partition, None)

    async def _give_back(self, partition: int) -> None:
        """Write the lease expired (if still ours) so its next owner claims at once."""
        lease, revision = await self._read(partition)
        if lease is not None and lease.owner == self.instance:
            await self._write(partition, Lease(self.instance, lease.epoch, self._wall()),
                              revision)
        log.info("%s %s gave partition %d back", self.service, self.instance, partition)

    async def give_back_all(self) -> None:
        """Stop every partition's consumers, give the leases back, say goodbye."""
        for partition in list(self.holdings):
            self._stop(partition, give_back=True)
        if self._stopping:
            await asyncio.gather(*self._stopping.values(), return_exceptions=True)
        if self._members is not None:
            with contextlib.suppress(Exception):  # it ages out anyway
                await self._members.delete(self._member_key(self.instance))

    def _member_key(self, instance: str) -> str:
        return f"{self.service}.{instance}"

    async def _heartbeats(self) -> dict[str, float]:
        assert self._members is not None
        prefix = f"{self.service}."
        try:
            keys = [k for k in await self._members.keys() if k.startswith(prefix)]
        except NoKeysError:
            return {}
        seen: dict[str, float] = {}
        for key in keys:
            with contextlib.suppress(KeyNotFoundError):
                entry = await self._members.get(key)
                if entry.value:
                    seen[key.removeprefix(prefix)] = _heartbeat_decoder.decode(
                        entry.value).seen_at
        return seen

    async def _read(self, partition: int) -> tuple[Lease | None, int | None]:
        assert self._leases is not None
        try:
            entry = await self._leases.get(f"{self.service}.{partition}")
        except KeyNotFoundError:
            return None, None
        if not entry.value:
            return None, entry.revision
        value = _lease_decoder.decode(entry.value)
        return Lease(value.owner, value.epoch, value.expires_at), entry.revision

    async def _write(self, partition: int, lease: Lease, revision: int | None) -> bool:
        """Compare-and-set the lease; False when someone else wrote it first."""
        assert self._leases is not None
        data = _encode(_LeaseValue(lease.owner, lease.epoch, lease.expires_at))
        key = f"{self.service}.{partition}"
        try:
            if revision is None:
                await self._leases.create(key, data)
            else:
                await self._leases.update(key, data, last=revision)
        except KeyWrongLastSequenceError:
            return False
        return True
