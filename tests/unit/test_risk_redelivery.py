"""A redelivered signal gets risk's first answer, whatever changed since."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fakes.memory import MemoryKV

from contracts.events import OrderRequested, WebhookFailed
from libs.runtime.clock import SystemClock
from services.risk.handlers import RiskService
from services.risk.ledger import Decision, Refusal, RiskDecisions, RiskLedgers
from tests.factories import (
    ACCOUNT_ID,
    ManualClock,
    OneAccount,
    make_account,
    make_strategy,
    make_validated,
)

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def service(world: OneAccount, clock: Any = None,
            ledgers: MemoryKV | None = None) -> RiskService:
    wired: Any = world
    return RiskService(wired, wired, RiskLedgers(ledgers or MemoryKV()),  # type: ignore[arg-type]
                       RiskDecisions(MemoryKV()),  # type: ignore[arg-type]
                       clock or SystemClock())


async def test_an_order_decided_before_the_account_was_paused_is_not_refused_later() -> None:
    world = OneAccount(strategy_=make_strategy(sizing_mode="alert_contracts"))
    risk = service(world)
    signal = make_validated(signal=world_signal())
    (first,) = await risk.handle(signal)
    assert isinstance(first.event, OrderRequested)
    # The breaker pauses the account; the same message comes again (a crash).
    world.account_ = make_account(paused=True, paused_reason="breaker")
    (again,) = await risk.handle(signal)
    assert isinstance(again.event, OrderRequested)
    assert (again.event.order, again.msg_id) == (first.event.order, first.msg_id)
    # Once its order ended, the redelivery has nothing more to say: no failure.
    await risk.release(_executed(signal.signal_id))
    assert await risk.handle(signal) == []


async def test_a_signal_refused_while_paused_stays_refused_after_the_resume() -> None:
    world = OneAccount(strategy_=make_strategy(sizing_mode="alert_contracts"),
                       account_=make_account(paused=True, paused_reason="breaker"))
    risk = service(world)
    signal = make_validated(signal=world_signal())
    (first,) = await risk.handle(signal)
    assert isinstance(first.event, WebhookFailed) and first.event.code == "paused"
    world.account_ = make_account()
    (again,) = await risk.handle(signal)
    assert isinstance(again.event, WebhookFailed)
    assert (again.event.code, again.msg_id) == ("paused", first.msg_id)


async def test_a_refusal_is_answered_again_on_a_later_trading_day() -> None:
    clock = ManualClock(NOW)
    world = OneAccount(strategy_=make_strategy(sizing_mode="alert_contracts",
                                               daily_order_limit=1))
    risk = service(world, clock)
    first_signal = make_validated(signal_id="s-1", signal=world_signal())
    refused_signal = make_validated(signal_id="s-2", signal=world_signal())
    (ordered,) = await risk.handle(first_signal)
    (refused,) = await risk.handle(refused_signal)
    assert isinstance(ordered.event, OrderRequested)
    assert isinstance(refused.event, WebhookFailed)
    assert refused.event.code == "daily_order_limit"
    clock.advance(86_400)  # a new day: the counters start again, the answers stay
    (again,) = await risk.handle(refused_signal)
    assert isinstance(again.event, WebhookFailed)
    assert again.event.code == "daily_order_limit"
    (fresh,) = await risk.handle(make_validated(signal_id="s-3", signal=world_signal()))
    assert isinstance(fresh.event, OrderRequested)


async def test_the_ledger_does_not_grow_with_the_signals_of_the_day() -> None:
    kv = MemoryKV()
    world = OneAccount(strategy_=make_strategy(sizing_mode="alert_contracts"))
    risk = service(world, ManualClock(NOW), kv)
    sizes = []
    for n in range(300):
        signal = make_validated(signal_id=f"s-{n}", signal=world_signal())
        (out,) = await risk.handle(signal)
        assert isinstance(out.event, OrderRequested)
        await risk.release(_executed(signal.signal_id))
        sizes.append(len((await kv.get(ACCOUNT_ID)).value or b""))
    # Counters only: the 300th order leaves it as long as the 100th did.
    assert sizes[-1] == sizes[99], "the ledger grew with the day's orders"
    ledger, _ = await risk.ledgers.load(ACCOUNT_ID)
    assert (ledger.orders_today, ledger.pending) == (300, {})


async def test_an_order_that_lost_the_race_to_a_refusal_gives_back_its_reservation() -> None:
    # Two instances decide one redelivered signal at once; one refused it first.
    world = OneAccount(strategy_=make_strategy(sizing_mode="alert_contracts"))
    risk = service(world)
    signal = make_validated(signal=world_signal())
    remember = risk.decisions.remember

    async def refused_meanwhile(key: str, decision: Decision) -> Decision:
        await remember(key, Decision(refusal=Refusal(code="paused", reason="paused")))
        return await remember(key, decision)

    risk.decisions.remember = refused_meanwhile  # type: ignore[method-assign]
    (out,) = await risk.handle(signal)
    assert isinstance(out.event, WebhookFailed) and out.event.code == "paused"
    ledger, _ = await risk.ledgers.load(ACCOUNT_ID)
    assert (ledger.pending, ledger.orders_today) == ({}, 0)



def world_signal() -> Any:
    from decimal import Decimal

    from tests.factories import make_signal

    return make_signal(quantity=Decimal(2))


def _executed(signal_id: str) -> Any:
    from tests.factories import make_trade_executed

    return make_trade_executed(signal_id=signal_id)
