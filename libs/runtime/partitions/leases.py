"""Partition leases: the pure decisions, apart from their I/O (``ownership.py``).

A lease is one KV key per service and partition holding ``{owner, epoch,
expires_at}``. Every write of a lease is a compare-and-set on the key's revision, so
two instances never both claim it. The **epoch** grows by one with every claim: it is
the fencing token. Account state written by a partition's owner records the epoch it
was written under, and a write under a lower epoch than the stored one is refused
(:func:`accepts`): an owner that paused past its lease (GC, a stopped VM) cannot
overwrite what the next owner wrote.

An owner believes its lease only until ``expires_at - margin`` by its own clock,
measured from *before* it asked to renew (:class:`Holding`), while others claim only
after ``expires_at``: so at most one instance at a time believes it may write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from libs.runtime.partitions.assignment import owner_of


@dataclass(frozen=True)
class Lease:
    """What a partition's lease key holds."""

    owner: str
    epoch: int
    expires_at: float  # wall-clock seconds

    def expired(self, now: float) -> bool:
        """Free to claim at ``now``."""
        return now >= self.expires_at


@dataclass(frozen=True)
class Claim:
    """Write ``lease`` (compare-and-set on the revision read): a new epoch for us."""

    lease: Lease


@dataclass(frozen=True)
class Renew:
    """Write ``lease`` (compare-and-set): same epoch, later expiry."""

    lease: Lease


@dataclass(frozen=True)
class Release:
    """Stop the partition's consumer (its in-flight batch finished and acked), then
    write ``lease`` (expired now, compare-and-set) so its next owner claims at once."""

    lease: Lease


Step = Claim | Renew | Release


def next_step(me: str, lease: Lease | None, intended: str | None, now: float,
              ttl: float) -> Step | None:
    """What instance ``me`` does about one partition: claim it when it is meant to be
    ours and free (never held, expired, or ours), renew it while ours, release it
    when it is ours but meant for someone else; otherwise nothing (wait)."""
    ours = lease is not None and lease.owner == me and not lease.expired(now)
    if intended == me:
        if ours and lease is not None:
            return Renew(Lease(me, lease.epoch, now + ttl))
        if lease is None or lease.expired(now):
            return Claim(Lease(me, (lease.epoch if lease else 0) + 1, now + ttl))
        return None
    if ours and lease is not None:
        return Release(Lease(me, lease.epoch, now))
    return None


def plan(me: str, service: str, partitions: int, members: list[str],
         leases: Mapping[int, Lease | None], now: float, ttl: float) -> dict[int, Step]:
    """One round of an instance: for every partition, its step (partitions with
    nothing to do are left out). ``members``: the live instances, ``me`` among them."""
    live = sorted(set(members) | {me})
    steps: dict[int, Step] = {}
    for partition in range(partitions):
        step = next_step(me, leases.get(partition), owner_of(service, partition, live), now,
                         ttl)
        if step is not None:
            steps[partition] = step
    return steps


def live_members(heartbeats: Mapping[str, float], now: float, member_ttl: float) -> list[str]:
    """The instances whose last heartbeat is younger than ``member_ttl``."""
    return sorted(name for name, seen in heartbeats.items() if now - seen < member_ttl)


@dataclass(frozen=True)
class Holding:
    """A lease as its owner sees it: the epoch, and until when (by the owner's own
    clock, counted from before the write that got it) it may write under it."""

    epoch: int
    valid_until: float

    @classmethod
    def after_write(cls, lease: Lease, asked_at: float, ttl: float,
                    margin: float) -> Holding:
        """The holding a claim or renewal asked at ``asked_at`` gives."""
        return cls(lease.epoch, asked_at + ttl - margin)

    def can_write(self, now: float) -> bool:
        """Still ours to write under at ``now``."""
        return now < self.valid_until


def accepts(stored_epoch: int | None, writer_epoch: int) -> bool:
    """The fence: account state written under ``stored_epoch`` may be overwritten by a
    writer holding ``writer_epoch`` (never by a lower one)."""
    return stored_epoch is None or writer_epoch >= stored_epoch
