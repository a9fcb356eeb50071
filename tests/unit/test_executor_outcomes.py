"""What the executor publishes for an order's state: terminal for entries, leg events
for protective legs (whose signal already ended)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

from contracts.events import LegCanceled, OrderRequested, WebhookFailed
from contracts.orders import OrderRequest
from libs.runtime.failures import failure
from services.executor.handlers import Executor
from tests.factories import ManualClock

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def executor() -> Executor:
    unused: Any = None  # outcome decisions touch neither registry, brokers nor KV
    return Executor(unused, unused, unused, ManualClock(NOW))


def requested(**order: Any) -> OrderRequested:
    request = OrderRequest(client_order_id="c-1-sl", symbol="ACME", side="sell",
                           quantity=D(5), intent="close", order_type="stop",
                           stop_price=D(90), **order)
    return OrderRequested(event_id="e", signal_id="sig", tenant_id="t", occurred_at=NOW,
                          strategy_id="s", account_id="a", order=request)


def test_giving_up_on_a_leg_cancels_the_leg_and_does_not_fail_the_signal_again() -> None:
    (out,) = executor().on_exhausted(requested(leg="sl", oco_group="c-1"), "boom")
    assert isinstance(out.event, LegCanceled)
    assert (out.event.leg, out.event.order.status) == ("sl", "rejected")
    assert "boom" in out.event.reason
    # Giving up again (a redelivery) publishes under the same message id: dropped.
    (again,) = executor().on_exhausted(requested(leg="sl", oco_group="c-1"), "other")
    assert again.msg_id == out.msg_id


def test_giving_up_on_an_entry_fails_its_signal() -> None:
    (out,) = executor().on_exhausted(requested(), "boom")
    assert isinstance(out.event, WebhookFailed)
    assert (out.event.stage, out.event.code) == ("execute", "internal_error")
    # One message id for every failure of a signal: it cannot end twice as failed.
    other = failure(requested(), "execute", "order_rejected", "refused", ManualClock(NOW))
    assert out.msg_id == other.msg_id
    assert out.msg_id != executor().on_exhausted(requested(leg="sl"), "boom")[0].msg_id
