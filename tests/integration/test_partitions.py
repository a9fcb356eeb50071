"""Partitions on a real nats-server: the stream's subject transform puts an account's
events in the partition libs/runtime/partitions computes; leases split the partitions
between instances and move them when one stops or dies; a ledger written under a newer
epoch refuses an old owner's write."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from factories import make_validated
from nats.js.api import AckPolicy, ConsumerConfig

from contracts import streams
from contracts.events import AnyEvent, TenantCreated
from contracts.subjects import subject_for, token
from libs.runtime.bus import Bus, ensure_topology
from libs.runtime.clock import SystemClock
from libs.runtime.consumer import Consumer, Outgoing
from libs.runtime.failures import exhausted
from libs.runtime.partitions.assignment import assignment, partition_of, stored_subject
from libs.runtime.partitions.fence import CURRENT_TENURE, NotOwner, Tenure
from libs.runtime.partitions.ownership import Ownership
from services.risk.ledger import RiskLedger, RiskLedgers

PARTITIONS = 8
LEASE_S = 1.5


async def wait_for(predicate: object, timeout: float, what: str) -> float:
    """Poll ``predicate`` until true; the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


async def test_the_stream_appends_the_servers_partition_of_the_account(bus: Bus) -> None:
    await ensure_topology(bus, partitions=PARTITIONS)
    events = [make_validated(tenant_id=f"ten{n % 3}", account_id=f"acc-{n}",
                             signal_id=f"sig-{n}", event_id=f"ev-{n}") for n in range(24)]
    for event in events:
        await bus.publish_event(event, event.event_id)
    sub = await bus.js.pull_subscribe_bind(durable=(await bus.js.add_consumer(
        streams.STREAM, ConsumerConfig(durable_name="probe", ack_policy=AckPolicy.NONE,
                                       filter_subject="webhook.validated.>"))).name,
        stream=streams.STREAM)
    msgs = await sub.fetch(len(events), timeout=2)
    assert len(msgs) == len(events)
    for msg, event in zip(msgs, events, strict=True):
        expected = partition_of(token(event.tenant_id), token(event.account_id), PARTITIONS)
        assert msg.subject == (f"webhook.validated.{event.tenant_id}.{event.account_id}."
                               f"{event.strategy_id}.{expected}")
        assert msg.subject == stored_subject(subject_for(event), PARTITIONS)
    # A partition's consumer sees exactly its accounts.
    spec = streams.for_partition(streams.RISK, 3)
    assert spec.durable == "risk-p03"
    assert spec.filter_subjects == ("webhook.validated.*.*.*.3",)


class Instance:
    """An Ownership with the consumers it would run recorded."""

    def __init__(self, bus: Bus, name: str) -> None:
        self.running: set[int] = set()
        self.stop = asyncio.Event()
        self.ownership = Ownership(bus, "risk", PARTITIONS, name, LEASE_S, self._gained,
                                   self._lost)
        self.task = asyncio.create_task(self.ownership.run(self.stop))

    async def _gained(self, partition: int, epoch: int) -> None:
        assert partition not in self.running
        self.running.add(partition)

    async def _lost(self, partition: int) -> None:
        self.running.discard(partition)


async def test_leases_split_the_partitions_and_move_them_when_an_instance_goes(
        bus: Bus) -> None:
    a, b = Instance(bus, "a"), Instance(bus, "b")
    intended = assignment("risk", PARTITIONS, ["a", "b"])
    mine = {name: {p for p, o in intended.items() if o == name} for name in ("a", "b")}
    await wait_for(lambda: a.running == mine["a"] and b.running == mine["b"], 10,
                   "both own their share")
    # A clean stop gives b's partitions back at once.
    b.stop.set()
    await b.task
    took = await wait_for(lambda: a.running == set(range(PARTITIONS)), 3 * LEASE_S,
                          "a owns everything after b stopped")
    assert took < 2 * LEASE_S
    # A newcomer that dies (no goodbye, leases left to expire): its share comes back
    # within about a lease and its heartbeat's age.
    c = Instance(bus, "c")
    share = {p for p, o in assignment("risk", PARTITIONS, ["a", "c"]).items() if o == "c"}
    await wait_for(lambda: c.running == share and a.running.isdisjoint(share), 10,
                   "c took its share")
    epochs = {p: a.ownership.holdings.get(p) for p in share}
    async def killed() -> None:  # no give-back, no goodbye
        return None

    c.ownership.give_back_all = killed  # type: ignore[method-assign]
    c.task.cancel()
    took = await wait_for(lambda: a.running == set(range(PARTITIONS)), 4 * LEASE_S + 2,
                          "a owns everything after c died")
    assert took <= 2 * LEASE_S + 1.5
    assert all(epochs[p] is None for p in share)
    a.stop.set()
    await a.task


class _Holder:
    def __init__(self, valid: bool) -> None:
        self.valid = valid

    def can_write(self, partition: int, epoch: int) -> bool:
        return self.valid


async def test_an_old_owner_cannot_write_a_ledger_a_newer_owner_wrote(bus: Bus) -> None:
    old, new = RiskLedgers(await bus.kv(streams.BUCKET_RISK)), \
        RiskLedgers(await bus.kv(streams.BUCKET_RISK))
    old_tenure = CURRENT_TENURE.set(Tenure(0, 1, _Holder(True)))
    ledger, revision = await old.load("acc-1")
    assert await old.save("acc-1", ledger, revision)
    CURRENT_TENURE.reset(old_tenure)

    token_new = CURRENT_TENURE.set(Tenure(0, 2, _Holder(True)))
    ledger, revision = await new.load("acc-1")
    ledger.orders_today = 7
    assert await new.save("acc-1", ledger, revision)
    CURRENT_TENURE.reset(token_new)

    # The old owner, resuming, with the ledger it kept: the compare-and-set fails, and
    # the fresh read shows a newer epoch: refused, not written over.
    CURRENT_TENURE.set(Tenure(0, 1, _Holder(True)))
    kept, kept_revision = await old.load("acc-1", fresh=False)
    assert not await old.save("acc-1", kept, kept_revision)
    fresh, fresh_revision = await old.load("acc-1")
    with pytest.raises(NotOwner):
        await old.save("acc-1", fresh, fresh_revision)
    # And an owner whose lease lapsed writes nothing at all.
    CURRENT_TENURE.set(Tenure(0, 3, _Holder(False)))
    with pytest.raises(NotOwner):
        await old.save("acc-1", RiskLedger(), fresh_revision)
    assert (await new.load("acc-1"))[0].orders_today == 7


async def test_the_owner_trusts_the_ledger_it_wrote_in_its_tenure(bus: Bus) -> None:
    kv = await bus.kv(streams.BUCKET_RISK)
    ledgers = RiskLedgers(kv)
    CURRENT_TENURE.set(Tenure(0, 4, _Holder(True)))
    ledger, revision = await ledgers.load("acc-2")
    ledger.orders_today = 3
    assert await ledgers.save("acc-2", ledger, revision)
    # Nobody else writes under the lease; were the KV changed behind its back, the
    # owner would not even look (a fresh load is the kept copy).
    await kv.put("acc-2", b'{"orders_today": 99, "epoch": 4}')
    assert (await ledgers.load("acc-2", fresh=True))[0].orders_today == 3
    ledger, revision = await ledgers.load("acc-2", fresh=False)
    assert await ledgers.save("acc-2", ledger, revision)
    # A new tenure (the partition went away and came back) trusts nothing kept.
    await kv.put("acc-2", b'{"orders_today": 99, "epoch": 4}')
    CURRENT_TENURE.set(Tenure(0, 5, _Holder(True)))
    assert (await ledgers.load("acc-2", fresh=True))[0].orders_today == 99


async def test_a_lost_partition_is_never_an_attempt_that_ends_the_signal(bus: Bus) -> None:
    """A handler refused for want of a lease (NotOwner) is retried in place, however
    often, and given back when its consumer stops: no give-up, no dead letter."""
    spec = streams.ConsumerSpec("fenced", ("registry.>",), "validate", max_deliver=2,
                                backoff_s=(0.05,))
    tries: list[str] = []
    refused_often = asyncio.Event()

    async def not_ours(event: AnyEvent) -> list[Outgoing]:
        tries.append(event.event_id)
        if len(tries) >= 6:
            refused_often.set()
        raise NotOwner("partition moved")

    await bus.publish_event(TenantCreated(event_id="e1", signal_id="s1", tenant_id="t",
                                          occurred_at=datetime.now(UTC), name="t"), "m1")
    stop = asyncio.Event()
    task = asyncio.create_task(Consumer(bus, spec, not_ours,
                                        exhausted("validate", SystemClock())).run(stop))
    await asyncio.wait_for(refused_often.wait(), timeout=20)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    info = await bus.js.consumer_info(streams.STREAM, "fenced")
    assert info.num_ack_pending + info.num_pending == 1  # given back, still there
    assert (await bus.js.stream_info(streams.STREAM)).state.messages == 1  # nothing parked
