"""close_all / cancel_all: risk's decision, and the executor's orders, in memory."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest
from fakes.memory import MemoryKV, MemoryRegistry, StepClock

from contracts.events import OrderRequested, TradeExecuted, WebhookFailed
from contracts.orders import OrderRequest
from libs.brokers.factory import Brokers
from libs.brokers.paper import PaperBroker
from services.executor.handlers import Executor
from services.executor.open_orders import OpenOrders
from services.executor.sweeps import child_order_id
from services.risk.rules import RiskRefusal, decide_order
from tests.factories import make_account, make_signal, make_snapshot, make_strategy

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
HELD = make_snapshot(positions={"AAPL": D(5), "MSFT": D(-3)})


def decide(intent: str, symbol: str = "AAPL", scope: str = "symbol",
           snapshot: Any = HELD) -> OrderRequest | RiskRefusal:
    signal = make_signal(intent=intent, symbol=symbol, scope=scope, price=None)
    return decide_order(signal, make_strategy(), snapshot, "c-1")


def test_close_all_of_a_symbol_closes_its_whole_position() -> None:
    order = decide("close_all", "MSFT")
    assert isinstance(order, OrderRequest)
    assert (order.symbol, order.side, order.quantity, order.close_position) == (
        "MSFT", "buy", D(3), True)


def test_close_all_of_the_account_lists_every_position() -> None:
    order = decide("close_all", "", scope="account")
    assert isinstance(order, OrderRequest)
    assert (order.symbol, order.symbols, order.intent) == ("", ["AAPL", "MSFT"], "close_all")


@pytest.mark.parametrize(("symbol", "scope", "reason"), [
    ("TSLA", "symbol", "no open position in TSLA to close"),
    ("", "account", "no open position in the account to close")])
def test_close_all_with_nothing_held_is_refused(symbol: str, scope: str, reason: str) -> None:
    refused = decide("close_all", symbol, scope, make_snapshot())
    assert isinstance(refused, RiskRefusal)
    assert (refused.code, refused.reason) == ("no_position", reason)


def test_cancel_all_is_never_an_order_that_trades() -> None:
    order = decide("cancel_all", "", scope="account")
    assert isinstance(order, OrderRequest)
    assert (order.intent, order.symbol, order.quantity) == ("cancel_all", "", D(0))


# --- the executor ---------------------------------------------------------------


def wired() -> tuple[Executor, PaperBroker, Any]:
    clock = StepClock(NOW)
    registry = MemoryRegistry()
    account = make_account()
    registry.add(account)
    paper = PaperBroker(MemoryKV(), clock, slippage_bps=D(0), fee_bps=D(0), prices=MemoryKV())
    reg: Any = registry
    open_orders: Any = OpenOrders(MemoryKV())  # type: ignore[arg-type]
    return Executor(reg, Brokers(paper), open_orders, clock), paper, account


def requested(order: OrderRequest, signal_id: str = "sig-1") -> OrderRequested:
    return OrderRequested(event_id=f"e-{signal_id}", signal_id=signal_id, tenant_id="acme",
                          occurred_at=NOW, strategy_id="s", account_id="acc-1", order=order)


def entry(coid: str, symbol: str, side: str, quantity: str, **fields: Any) -> OrderRequest:
    fields = {"reference_price": D(100), **fields}
    return OrderRequest(client_order_id=coid, symbol=symbol, side=side,  # type: ignore[arg-type]
                        quantity=D(quantity), intent="buy", **fields)


async def test_close_all_closes_each_position_once_and_reports_every_fill() -> None:
    executor, paper, account = wired()
    for coid, symbol, side in (("a", "AAPL", "buy"), ("m", "MSFT", "sell")):
        await executor.handle(requested(entry(coid, symbol, side, "4"), coid))
    sweep = requested(OrderRequest(client_order_id="sw", symbol="", side="sell",
                                   quantity=D(0), intent="close_all", close_position=True,
                                   symbols=["AAPL", "MSFT", "TSLA"]), "sweep")
    (out,) = await executor.handle(sweep)
    assert isinstance(out.event, TradeExecuted)
    assert out.event.fill is None
    assert [(f.symbol, f.side, f.quantity) for f in out.event.fills] == [
        ("AAPL", "sell", D(4)), ("MSFT", "buy", D(4))]
    assert out.event.skipped == {
        "TSLA": "no_position: no open position in TSLA to close"}
    assert (await paper.snapshot(account)).positions == {}
    # A redelivery finds the orders placed before: the same event, no second trade.
    (again,) = await executor.handle(sweep)
    assert again.event == out.event
    assert (await paper.find_order(account, child_order_id("sw", "AAPL"))).status == "filled"  # type: ignore[union-attr]


async def test_cancel_all_cancels_resting_orders_but_keeps_protective_legs() -> None:
    executor, paper, account = wired()
    await executor.handle(requested(entry("held", "AAPL", "buy", "10"), "held"))
    await executor.handle(requested(entry("limit", "AAPL", "buy", "1", order_type="limit",
                                          limit_price=D(90), reference_price=None), "lim"))
    await executor.handle(requested(OrderRequest(
        client_order_id="held-sl", symbol="AAPL", side="sell", quantity=D(10), intent="close",
        order_type="stop", stop_price=D(80), leg="sl", oco_group="held"), "held"))
    out = await executor.handle(requested(OrderRequest(
        client_order_id="cx", symbol="", side="sell", quantity=D(0), intent="cancel_all"),
        "cancel"))
    ended = {type(o.event).__name__: o.event for o in out}
    assert isinstance(ended["WebhookFailed"], WebhookFailed)
    assert (ended["WebhookFailed"].signal_id, ended["WebhookFailed"].code) == (
        "lim", "order_canceled")
    assert ended["TradeExecuted"].canceled == ["limit"]  # type: ignore[attr-defined]
    resting = await paper.open_orders(account)
    assert [(o.client_order_id, o.status) for o in resting] == [("held-sl", "open")]
    assert (await paper.snapshot(account)).positions == {"AAPL": D(10)}
