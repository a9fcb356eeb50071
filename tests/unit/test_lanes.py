"""Ordered lanes and ordering keys: in order within a key, concurrent across keys."""

from __future__ import annotations

import asyncio

from contracts.subjects import subject_for
from libs.runtime.consumer import ordering_key
from libs.runtime.lanes import Lanes
from tests.factories import make_order_requested, make_received, make_validated


def test_the_ordering_key_is_tenant_and_account() -> None:
    validated = make_validated(tenant_id="acme", account_id="acc-1")
    request = make_order_requested(tenant_id="acme", account_id="acc-1", strategy_id="other")
    assert ordering_key(subject_for(validated)) == "acme.acc-1"
    assert ordering_key(subject_for(request)) == "acme.acc-1"  # any strategy of the account
    assert ordering_key(subject_for(make_validated(tenant_id="acme", account_id="acc-2"))) \
        != "acme.acc-1"
    # webhook.received has no account yet: its strategy (which trades one account).
    assert ordering_key(subject_for(make_received(tenant_id="acme", strategy_id="s1"))) \
        == "acme.s1"


async def test_a_blocked_key_holds_up_only_its_own_items() -> None:
    release = asyncio.Event()
    done: list[str] = []
    b_done = asyncio.Event()

    async def work(item: str) -> bool:
        if item == "a1":
            await release.wait()  # a retrying message
        done.append(item)
        if item == "b2":
            b_done.set()
        return True

    async def give_back(item: str) -> None:
        raise AssertionError(f"{item} was given back")

    lanes: Lanes[str] = Lanes(work, give_back, limit=10)
    for key, item in (("a", "a1"), ("a", "a2"), ("b", "b1"), ("b", "b2")):
        lanes.put(key, item)
    assert lanes.free == 6
    await asyncio.wait_for(b_done.wait(), timeout=5)
    assert done == ["b1", "b2"]
    assert sorted(lanes.held()) == ["a1", "a2"]
    release.set()
    assert await lanes.join(timeout=5)
    assert done == ["b1", "b2", "a1", "a2"]
    assert lanes.free == 10


async def test_an_item_given_back_takes_the_rest_of_its_lane_with_it() -> None:
    given_back: list[str] = []

    async def work(item: str) -> bool:
        return item != "a1"  # a1: stopping mid-retry, handed back unfinished

    async def give_back(item: str) -> None:
        given_back.append(item)

    lanes: Lanes[str] = Lanes(work, give_back, limit=10)
    for item in ("a1", "a2", "a3"):
        lanes.put("a", item)
    assert await lanes.join(timeout=5)
    assert given_back == ["a2", "a3"]  # in order, none overtook a1


async def test_full_lanes_wait_for_room_and_stop_ends_the_wait() -> None:
    gate = asyncio.Event()

    async def work(_: str) -> bool:
        await gate.wait()
        return True

    async def give_back(_: str) -> None:
        return None

    lanes: Lanes[str] = Lanes(work, give_back, limit=2)
    lanes.put("a", "a1")
    lanes.put("b", "b1")
    stop = asyncio.Event()
    waiting = asyncio.create_task(lanes.wait_for_room(stop))
    await asyncio.sleep(0)  # let it start waiting: it must not return while full
    assert not waiting.done()
    stop.set()
    await asyncio.wait_for(waiting, timeout=5)
    gate.set()
    await asyncio.wait_for(lanes.wait_for_room(asyncio.Event()), timeout=5)
    assert await lanes.join(timeout=5)
    # A lane that never finishes is cancelled at the deadline.
    gate.clear()
    lanes.put("c", "c1")
    assert not await lanes.join(timeout=0.1)
    assert lanes.free == 2
