"""Risk keeps the last ledger it saw per account; another instance writing the same
account must never make it answer from a stale one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fakes.memory import MemoryKV

from contracts.events import OrderRequested, WebhookFailed
from libs.runtime.clock import SystemClock
from services.risk.handlers import RiskService
from services.risk.ledger import RiskDecisions, RiskLedgers
from tests.factories import (
    ACCOUNT_ID,
    OneAccount,
    make_signal,
    make_strategy,
    make_trade_executed,
    make_validated,
)


class CountingKV(MemoryKV):
    """A MemoryKV that counts reads."""

    reads = 0

    async def get(self, key: str, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return await super().get(key, *args, **kwargs)


def two_instances(world: OneAccount) -> tuple[RiskService, RiskService, CountingKV]:
    """Two risk services over the same ledger and decision buckets."""
    ledgers, decisions = CountingKV(), MemoryKV()
    wired: Any = world
    make = [RiskService(wired, wired, RiskLedgers(ledgers),  # type: ignore[arg-type]
                        RiskDecisions(decisions), SystemClock())  # type: ignore[arg-type]
            for _ in range(2)]
    return make[0], make[1], ledgers


def buy(signal_id: str, quantity: int = 1) -> Any:
    return make_validated(signal_id=signal_id, signal=make_signal(quantity=Decimal(quantity)))


async def test_one_instance_deciding_in_turn_reads_the_ledger_once() -> None:
    world = OneAccount(strategy_=make_strategy(sizing_mode="alert_contracts"))
    risk, _, ledgers = two_instances(world)
    for n in range(5):
        (out,) = await risk.handle(buy(f"s-{n}"))
        assert isinstance(out.event, OrderRequested)
        await risk.release(make_trade_executed(signal_id=f"s-{n}"))
    assert ledgers.reads == 1  # the first signal's; every later one used the kept copy


async def test_a_reservation_made_by_another_instance_counts_against_the_limit() -> None:
    world = OneAccount(strategy_=make_strategy(sizing_mode="alert_contracts",
                                               daily_order_limit=2))
    first, second, _ = two_instances(world)
    (one,) = await first.handle(buy("s-1"))  # first keeps the ledger: one order
    (two,) = await second.handle(buy("s-2"))  # two orders now
    (three,) = await first.handle(buy("s-3"))  # first's kept ledger says one: stale
    assert isinstance(one.event, OrderRequested) and isinstance(two.event, OrderRequested)
    assert isinstance(three.event, WebhookFailed)
    assert three.event.code == "daily_order_limit"
    ledger, _ = await first.ledgers.load(ACCOUNT_ID)
    assert ledger.orders_today == 2


async def test_a_refusal_never_rests_on_a_reservation_another_instance_released() -> None:
    world = OneAccount(strategy_=make_strategy(sizing_mode="alert_contracts",
                                               max_position_quantity=Decimal(2)))
    first, second, _ = two_instances(world)
    (held,) = await first.handle(buy("s-1", 2))  # reserved: 2 of the 2 allowed
    assert isinstance(held.event, OrderRequested)
    # Its order ended without a fill; the other instance took the terminal event.
    assert await second.ledgers.release(ACCOUNT_ID, "s-1")
    (again,) = await first.handle(buy("s-2", 2))  # first still keeps the reservation
    assert isinstance(again.event, OrderRequested), again.event


async def test_a_reservation_made_by_another_instance_is_released_by_this_one() -> None:
    world = OneAccount(strategy_=make_strategy(sizing_mode="alert_contracts"))
    first, second, _ = two_instances(world)
    await first.handle(buy("s-0"))  # first keeps a ledger without s-1's reservation
    await second.handle(buy("s-1"))
    await first.release(make_trade_executed(signal_id="s-1"))
    ledger, _ = await second.ledgers.load(ACCOUNT_ID)
    assert [r.signal_id for r in ledger.pending.values()] == ["s-0"]
