"""Partition ownership (libs/runtime/partitions) against a model of the KV bucket,
instances and account state, driven by hypothesis: instances join, leave (cleanly or
killed), pause past their lease and resume, take rounds in any order while time
passes. Each round an owner begins a write of its accounts' state that lands at its
next round: a write begun before a pause lands after it, as after a GC pause.

Invariants after every step: at most one instance may write each partition; no
account-state write is accepted under a lower epoch than one accepted before (the
fence); and when membership holds still, every partition is owned by its intended
owner within a bounded time."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from libs.runtime.partitions.assignment import (
    assignment,
    fnv1a_32,
    owner_of,
    partition_of,
    stored_subject,
)
from libs.runtime.partitions.leases import (
    Claim,
    Holding,
    Lease,
    Release,
    Renew,
    accepts,
    live_members,
    plan,
)

SERVICE = "risk"
PARTITIONS = 6
TTL = 10.0          # lease
MEMBER_TTL = 6.0    # heartbeat age after which a member is gone
ROUND = 2.0         # an instance's round: heartbeat, then its steps
MARGIN = 0.5
NAMES = ("a", "b", "c", "d")
# A partition is owned again at most this long after membership stopped changing:
# the leaver's heartbeat ages out, its lease expires, the next round claims.
BOUND = MEMBER_TTL + TTL + 2 * ROUND


@dataclass
class Instance:
    """One process: what it holds, and the writes it has begun."""

    holdings: dict[int, Holding] = field(default_factory=dict)
    paused: bool = False
    pending: list[tuple[int, int]] = field(default_factory=list)  # (partition, epoch)


class OwnershipMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0
        self.leases: dict[int, tuple[Lease, int]] = {}  # partition -> (lease, revision)
        self.revision = 0
        self.heartbeats: dict[str, float] = {}
        self.instances: dict[str, Instance] = {}
        # Account state: one account per partition, the epoch it was written under,
        # and every epoch a write was accepted under, in order.
        self.stored: dict[int, int] = {}
        self.accepted: dict[int, list[int]] = {p: [] for p in range(PARTITIONS)}

    # -- the KV bucket -------------------------------------------------------------

    def _cas(self, partition: int, lease: Lease, seen: int | None) -> bool:
        current = self.leases.get(partition)
        if (current[1] if current else None) != seen:
            return False
        self.revision += 1
        self.leases[partition] = (lease, self.revision)
        return True

    def _round(self, name: str) -> None:
        """One round of ``name``, as libs/runtime/partitions/ownership.py runs it."""
        inst = self.instances[name]
        # The account-state writes it began last round land now (after a pause, late).
        for partition, epoch in inst.pending:
            if accepts(self.stored.get(partition), epoch):
                self.stored[partition] = epoch
                self.accepted[partition].append(epoch)
        inst.pending.clear()
        asked_at = self.now
        self.heartbeats[name] = self.now
        members = live_members(self.heartbeats, self.now, MEMBER_TTL)
        seen = {p: self.leases.get(p) for p in range(PARTITIONS)}
        steps = plan(name, SERVICE, PARTITIONS, members,
                     {p: entry[0] if entry else None for p, entry in seen.items()},
                     self.now, TTL)
        for partition in range(PARTITIONS):
            step = steps.get(partition)
            entry = seen[partition]
            revision = entry[1] if entry else None
            if isinstance(step, Release):
                inst.holdings.pop(partition, None)  # consumer stopped first
                self._cas(partition, step.lease, revision)
            elif isinstance(step, Claim | Renew):
                if self._cas(partition, step.lease, revision):
                    inst.holdings[partition] = Holding.after_write(step.lease, asked_at, TTL,
                                                                   MARGIN)
                else:
                    inst.holdings.pop(partition, None)
            elif entry is None or entry[0].owner != name:
                inst.holdings.pop(partition, None)  # lost it (expired and claimed)
        # It writes the accounts of the partitions it may write (by its own clock).
        inst.pending = [(p, h.epoch) for p, h in inst.holdings.items()
                        if h.can_write(self.now)]

    # -- rules ---------------------------------------------------------------------

    @rule(name=st.sampled_from(NAMES))
    def join(self, name: str) -> None:
        if name not in self.instances:
            self.instances[name] = Instance()
            self._round(name)

    @precondition(lambda self: bool(self.instances))
    @rule(data=st.data(), clean=st.booleans())
    def leave(self, data: st.DataObject, clean: bool) -> None:
        name = data.draw(st.sampled_from(sorted(self.instances)))
        inst = self.instances.pop(name)
        if clean and not inst.paused:  # a clean stop: releases, says goodbye
            for partition in list(inst.holdings):
                lease, revision = self.leases[partition]
                if lease.owner == name:
                    self._cas(partition, Lease(name, lease.epoch, self.now), revision)
            self.heartbeats.pop(name, None)
        # killed: its heartbeat ages out, its leases expire

    @precondition(lambda self: bool(self.instances))
    @rule(data=st.data())
    def take_round(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.instances)))
        if not self.instances[name].paused:
            self._round(name)

    @precondition(lambda self: bool(self.instances))
    @rule(data=st.data())
    def pause_or_resume(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.instances)))
        self.instances[name].paused = not self.instances[name].paused

    @rule(seconds=st.floats(min_value=0.1, max_value=2 * TTL))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def membership_holds_still(self) -> None:
        """Every instance that is not paused takes rounds for BOUND seconds: then each
        partition is held by its intended owner, and only by it."""
        running = sorted(n for n, i in self.instances.items() if not i.paused)
        if not running:
            return
        until = self.now + BOUND
        while self.now < until:
            for name in running:
                self._round(name)
            self.now += ROUND
        for name in running:
            self._round(name)
        intended = assignment(SERVICE, PARTITIONS, running)
        for partition, owner in intended.items():
            holders = [n for n, i in self.instances.items()
                       if partition in i.holdings and i.holdings[partition].can_write(self.now)]
            assert holders == [owner], (partition, holders, owner)

    # -- invariants ----------------------------------------------------------------

    @invariant()
    def at_most_one_writer_per_partition(self) -> None:
        for partition in range(PARTITIONS):
            writers = [n for n, i in self.instances.items()
                       if partition in i.holdings and i.holdings[partition].can_write(self.now)]
            assert len(writers) <= 1, (partition, writers)

    @invariant()
    def no_write_accepted_from_a_stale_epoch(self) -> None:
        for partition, epochs in self.accepted.items():
            assert epochs == sorted(epochs), (partition, epochs)
            if epochs:
                assert epochs[-1] <= self.leases[partition][0].epoch

    @invariant()
    def epochs_only_grow(self) -> None:
        for lease, _ in self.leases.values():
            assert lease.epoch >= 1


OwnershipMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("MODEL_EXAMPLES", 200)), stateful_step_count=40,
    deadline=None, suppress_health_check=[HealthCheck.too_slow])
TestOwnership = OwnershipMachine.TestCase


def test_a_join_moves_only_the_partitions_the_newcomer_outranks() -> None:
    before = assignment(SERVICE, 64, ["a", "b"])
    after = assignment(SERVICE, 64, ["a", "b", "c"])
    moved = [p for p in before if before[p] != after[p]]
    assert moved and all(after[p] == "c" for p in moved)
    assert set(after.values()) == {"a", "b", "c"}


def test_a_single_member_owns_every_partition() -> None:
    assert set(assignment(SERVICE, 16, ["only"]).values()) == {"only"}
    assert owner_of(SERVICE, 3, []) is None


def test_partition_of_is_fnv1a_of_tenant_and_account_modulo_n() -> None:
    # Reference values of the algorithm (FNV-1a, 32 bit).
    assert fnv1a_32(b"") == 0x811C9DC5 and fnv1a_32(b"a") == 0xE40C292C
    assert fnv1a_32(b"foobar") == 0xBF9CF968
    assert partition_of("foo", "bar", 1000) == 0xBF9CF968 % 1000
    assert partition_of("acme", "acc-1", 1) == 0
    assert {partition_of("t", f"acc{n}", 16) for n in range(200)} == set(range(16))


def test_only_subjects_with_an_account_are_stored_with_a_partition() -> None:
    validated = "webhook.validated.foo.bar.strat"
    assert stored_subject(validated, 1000) == f"{validated}.{0xBF9CF968 % 1000}"
    assert stored_subject(validated, 0) == validated
    assert stored_subject("webhook.received.foo.strat", 16) == "webhook.received.foo.strat"
