"""A redelivered signal gets risk's first answer, whatever changed since."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fakes.memory import MemoryKV

from contracts.events import OrderRequested, WebhookFailed
from services.risk.handlers import RiskService
from services.risk.ledger import RiskLedgers
from services.runtime.clock import SystemClock
from tests.factories import OneAccount, make_account, make_strategy, make_validated

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def service(world: OneAccount) -> RiskService:
    wired: Any = world
    return RiskService(wired, wired, RiskLedgers(MemoryKV()), SystemClock())  # type: ignore[arg-type]


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


def world_signal() -> Any:
    from decimal import Decimal

    from tests.factories import make_signal

    return make_signal(quantity=Decimal(2))


def _executed(signal_id: str) -> Any:
    from tests.factories import make_trade_executed

    return make_trade_executed(signal_id=signal_id)
