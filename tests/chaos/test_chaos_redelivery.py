"""A redelivered signal gets the answer it got the first time, however the account moved.

Found by the NATS-restart fault test: risk published an exit's ``order.requested``,
lost the acknowledgement with the server, and retried after the order had filled;
deciding again, it found no position and published ``webhook.failed`` too — one
signal, two terminal events. Here the same redeliveries, step by step, against a
real KV ledger.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts import streams
from contracts.events import OrderRequested
from libs.runtime.bus import Bus
from services.risk.handlers import RiskService
from services.risk.ledger import RiskDecisions, RiskLedgers
from tests.factories import (
    ManualClock,
    OneAccount,
    make_signal,
    make_strategy,
    make_trade_executed,
    make_validated,
)

pytestmark = pytest.mark.chaos


async def test_a_redelivered_exit_is_never_refused_after_its_order_went_out(bus: Bus) -> None:
    world = OneAccount(strategy_=make_strategy(sizing_mode="alert_contracts"),
                       positions={"AAPL": Decimal(5)}, prices={"AAPL": Decimal(150)})
    risk = RiskService(world, world, RiskLedgers(await bus.kv(streams.BUCKET_RISK)),  # type: ignore[arg-type]
                       RiskDecisions(await bus.kv(streams.BUCKET_RISK_DECISIONS)),
                       ManualClock())
    exit_signal = make_validated(signal=make_signal(intent="exit_long"))

    first = await risk.handle(exit_signal)
    assert [type(o.event) for o in first] == [OrderRequested]
    order = first[0].event.order  # type: ignore[attr-defined]
    assert order.close_position

    # Redelivered before the order filled: its own reservation already "closed"
    # the position, yet the answer is the same order (a repeat publish is dropped).
    again = await risk.handle(exit_signal)
    assert [(type(o.event), o.msg_id) for o in again] == [(OrderRequested, first[0].msg_id)]
    assert again[0].event.order == order  # type: ignore[attr-defined]

    # Redelivered after it filled and its terminal event released the reservation:
    # nothing more to say — above all no webhook.failed(no_position).
    world.positions = {}
    await risk.release(make_trade_executed(signal_id=exit_signal.signal_id))
    assert await risk.handle(exit_signal) == []
