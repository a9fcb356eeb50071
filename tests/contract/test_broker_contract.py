"""The broker contract: what every adapter must do, proven against its fake venue.

Each test runs once per venue of ``contract_venues/`` (``-k paper``, ``-k alpaca``).
A transient failure may surface from ``submit`` as any exception but
``BrokerRejected`` (``BrokerUnavailable`` after the adapter's own retries): the
executor's message is then redelivered and ``submit`` called again, which
:func:`submitted` does here.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

import msgspec
import pytest
from contract_venues import Venue
from fakes.memory import MemoryBus, MemoryKV, MemoryRegistry, StepClock

from contracts.events import OrderPlaced, OrderRequested, TradeExecuted, WebhookFailed
from contracts.orders import BrokerOrder, OrderRequest
from domain.symbols import classify_symbol
from libs.brokers.base import Broker, BrokerRejected
from libs.brokers.capabilities import DECLARED, Capabilities, capabilities_for
from services.executor.handlers import Executor
from services.executor.open_orders import OpenOrders
from tests.factories import NOW

REDELIVERIES = 4


def order(venue: Venue, name: str, **fields: object) -> OrderRequest:
    """A market buy of the venue's size under a client order id of its own."""
    return msgspec.convert({
        "client_order_id": f"contract-1765119600-{name}", "symbol": venue.symbol,
        "side": "buy", "quantity": venue.quantity, "intent": "enter_long", **fields,
    }, OrderRequest)


def resting(venue: Venue, name: str) -> OrderRequest:
    """A limit buy well below the market: it rests."""
    return order(venue, name, order_type="limit", limit_price=venue.price * Decimal("0.9"),
                 time_in_force="gtc")


async def submitted(venue: Venue, request: OrderRequest) -> BrokerOrder:
    """Submit as the executor does: a transient failure is redelivered, so submit again."""
    for _ in range(REDELIVERIES - 1):
        try:
            return await venue.broker.submit(venue.account, request)
        except BrokerRejected:
            raise
        except Exception:  # noqa: S112 - redelivered: the next attempt looks it up first
            continue
    return await venue.broker.submit(venue.account, request)


async def position(venue: Venue) -> Decimal:
    return (await venue.broker.snapshot(venue.account)).position(venue.symbol)


# -- declared capabilities ----------------------------------------------------------


def test_the_adapter_declares_its_capabilities(venue: Venue) -> None:
    declared = capabilities_for(venue.account)
    most = venue.broker.capabilities
    assert isinstance(most, Capabilities)
    assert venue.broker.name == venue.account.broker
    if not callable(DECLARED[venue.account.broker]):
        assert most == declared
        return
    # Abilities that depend on the account (a ccxt venue's spot or perpetuals): the
    # adapter carries the venue at its most; an account can do no more than that.
    for can in ("asset_classes", "shorting", "fractional", "stop_orders", "native_oco",
                "trailing_stops"):
        assert getattr(declared, can) <= getattr(most, can), can
    assert most.leverage or not declared.leverage
    if venue.account.exchange is not None and venue.account.exchange.market == "perp":
        assert most == declared  # perpetuals: the venue at its most


# -- placing, once ------------------------------------------------------------------


async def test_a_market_order_fills_and_the_position_reads_back(venue: Venue) -> None:
    request = order(venue, "market")
    placed = await submitted(venue, request)

    assert (placed.status, placed.client_order_id, placed.side) == (
        "filled", request.client_order_id, "buy")
    assert placed.fill is not None
    assert (placed.fill.client_order_id, placed.fill.quantity) == (
        request.client_order_id, venue.quantity)
    assert placed.fill.average_price > 0
    assert await position(venue) == venue.quantity
    found = await venue.broker.find_order(venue.account, request.client_order_id)
    assert found is not None and found.fill is not None
    # The same order (a later read may differ in what the venue stamps, e.g. times).
    assert (found.order_id, found.client_order_id, found.status, found.fill.quantity,
            found.fill.average_price) == (placed.order_id, placed.client_order_id, "filled",
                                          placed.fill.quantity, placed.fill.average_price)


async def test_submitting_again_returns_the_first_order(venue: Venue) -> None:
    request = order(venue, "twice")
    first = await submitted(venue, request)
    again = await submitted(venue, request)

    assert again.order_id == first.order_id
    assert venue.placement_requests(request.client_order_id) == 1
    assert await position(venue) == venue.quantity


@pytest.mark.parametrize("fault", ["lost_answer", "timeout", "429", "500", "503"])
async def test_a_transient_failure_never_places_a_second_order(
        venue: Venue, fault: str) -> None:
    if fault not in venue.faults:
        pytest.skip(f"{venue.broker.name} cannot inject {fault}")
    request = order(venue, f"fault-{fault}")
    venue.fail_next_submit(fault)

    placed = await submitted(venue, request)

    assert placed.status == "filled"
    assert placed.fill is not None and placed.fill.quantity == venue.quantity
    # The retry looked the order up first: one placement reached the venue.
    assert venue.placement_requests(request.client_order_id) == 1
    assert await position(venue) == venue.quantity
    assert await venue.broker.find_order(venue.account, request.client_order_id) is not None


async def test_an_unknown_order_is_not_found(venue: Venue) -> None:
    assert await venue.broker.find_order(venue.account, "contract-never-placed") is None


# -- refusals -----------------------------------------------------------------------


async def test_a_refusal_raises_with_the_venues_reason(venue: Venue) -> None:
    request, reason = venue.refusing(order(venue, "refused"))

    with pytest.raises(BrokerRejected) as refused:
        await submitted(venue, request)

    assert reason in refused.value.reason
    assert refused.value.code
    assert await position(venue) == 0


async def test_a_refusal_fails_the_signal_at_stage_execute(venue: Venue) -> None:
    request, reason = venue.refusing(order(venue, "refused-signal"))
    executor = _executor(venue)

    out = await executor.place(_requested(venue, request))

    (failed,) = [o.event for o in out]
    assert isinstance(failed, WebhookFailed)
    assert failed.stage == "execute" and failed.code
    assert reason in failed.reason


# -- exits, legs, shorts: exposure only where it was asked for ----------------------


async def test_a_reduce_only_exit_never_crosses_zero(venue: Venue) -> None:
    await submitted(venue, order(venue, "held"))
    exit_ = order(venue, "reduce", side="sell", intent="exit_long", reduce_only=True,
                  quantity=venue.quantity * 2)

    try:
        await submitted(venue, exit_)
    except BrokerRejected:
        assert await position(venue) == venue.quantity  # refused whole: nothing traded
    else:
        assert await position(venue) == 0  # clamped to the position held


async def test_a_reduce_only_exit_when_flat_trades_nothing(venue: Venue) -> None:
    exit_ = order(venue, "reduce-flat", side="sell", intent="exit_long", reduce_only=True)
    with pytest.raises(BrokerRejected):
        await submitted(venue, exit_)
    assert await position(venue) == 0


async def test_closing_a_position_flattens_it_whatever_its_size(venue: Venue) -> None:
    await submitted(venue, order(venue, "to-close"))
    closing = order(venue, "close", side="sell", intent="close", close_position=True,
                    quantity=venue.quantity / 2)

    closed = await submitted(venue, closing)

    assert closed.status == "filled" and closed.fill is not None
    assert closed.fill.quantity == venue.quantity
    assert await position(venue) == 0


async def test_a_protective_leg_never_opens_a_position(venue: Venue) -> None:
    leg = order(venue, "lonely-sl", side="sell", intent="close", order_type="stop",
                stop_price=venue.price * Decimal("0.95"), time_in_force="gtc", leg="sl",
                oco_group="contract-1765119600-lonely")
    with contextlib.suppress(BrokerRejected):  # refused, or rests reduce-only
        await submitted(venue, leg)
    await venue.set_price(venue.price * Decimal("0.9"))  # would trigger it, if it rested
    assert await position(venue) == 0


async def test_a_short_entry_opens_a_short_where_declared(venue: Venue) -> None:
    if classify_symbol(venue.symbol) not in capabilities_for(venue.account).shorting:
        pytest.skip(f"{venue.broker.name} declares no shorts of {venue.symbol}")
    short = order(venue, "short", side="sell", intent="enter_short")

    placed = await submitted(venue, short)

    assert placed.status == "filled" and placed.fill is not None
    assert (placed.fill.side, placed.fill.quantity) == ("sell", venue.quantity)
    assert await position(venue) == -venue.quantity


async def test_a_flip_is_one_order_with_one_fill_of_the_whole_quantity(venue: Venue) -> None:
    if classify_symbol(venue.symbol) not in capabilities_for(venue.account).shorting:
        pytest.skip(f"{venue.broker.name} declares no shorts of {venue.symbol}")
    await submitted(venue, order(venue, "long-first"))
    flip = order(venue, "flip", side="sell", intent="enter_short",
                 quantity=venue.quantity * 2, close_quantity=venue.quantity)

    placed = await submitted(venue, flip)
    again = await submitted(venue, flip)

    assert placed.status == "filled" and placed.fill is not None
    assert placed.fill.quantity == venue.quantity * 2
    assert again.fill is not None and again.fill.quantity == venue.quantity * 2
    assert await position(venue) == -venue.quantity


# -- resting orders, cancels, partial fills -----------------------------------------


async def test_a_resting_order_reads_back_until_the_market_fills_it(venue: Venue) -> None:
    request = resting(venue, "rests")
    placed = await submitted(venue, request)

    assert (placed.status, placed.order_type, placed.fill) == ("open", "limit", None)
    listed = {o.client_order_id: o for o in await venue.broker.open_orders(venue.account)}
    assert listed[request.client_order_id].status == "open"
    assert listed[request.client_order_id].limit_price == request.limit_price
    assert await position(venue) == 0

    await venue.set_price(venue.price * Decimal("0.85"))

    filled = await venue.broker.find_order(venue.account, request.client_order_id)
    assert filled is not None and filled.status == "filled"
    assert filled.fill is not None and filled.fill.quantity == venue.quantity
    assert request.client_order_id not in {
        o.client_order_id for o in await venue.broker.open_orders(venue.account)}
    assert await position(venue) == venue.quantity


async def test_cancelling_a_resting_order_ends_it(venue: Venue) -> None:
    request = resting(venue, "cancel-open")
    await submitted(venue, request)

    canceled = await venue.broker.cancel_order(venue.account, request.client_order_id,
                                               "contract: cancel")

    assert canceled is not None and canceled.status == "canceled"
    assert request.client_order_id not in {
        o.client_order_id for o in await venue.broker.open_orders(venue.account)}
    # A second cancel reports the ended order; it is not an error.
    again = await venue.broker.cancel_order(venue.account, request.client_order_id)
    assert again is not None and again.status == "canceled"


async def test_cancelling_a_filled_order_reports_it_filled(venue: Venue) -> None:
    request = order(venue, "cancel-filled")
    await submitted(venue, request)

    reported = await venue.broker.cancel_order(venue.account, request.client_order_id)

    assert reported is not None and reported.status == "filled"
    assert reported.fill is not None and reported.fill.quantity == venue.quantity
    assert await position(venue) == venue.quantity


async def test_cancelling_an_unknown_order_reports_nothing(venue: Venue) -> None:
    assert await venue.broker.cancel_order(venue.account, "contract-never-placed") is None


async def test_partial_fills_are_reported_as_they_happen(venue: Venue) -> None:
    if not venue.partial_fills:
        pytest.skip(f"{venue.broker.name} fills resting orders whole")
    request = resting(venue, "partial")
    await submitted(venue, request)
    half = venue.quantity / 2

    await venue.fill_partially(request.client_order_id, half)

    part = await venue.broker.find_order(venue.account, request.client_order_id)
    assert part is not None
    assert (part.status, part.filled_quantity, part.fill) == ("open", half, None)
    assert part.average_fill_price is not None and part.average_fill_price > 0
    listed = {o.client_order_id: o for o in await venue.broker.open_orders(venue.account)}
    assert listed[request.client_order_id].filled_quantity == half
    assert await position(venue) == half

    await venue.set_price(venue.price * Decimal("0.85"))

    whole = await venue.broker.find_order(venue.account, request.client_order_id)
    assert whole is not None and whole.status == "filled"
    assert whole.fill is not None and whole.fill.quantity == venue.quantity
    assert await position(venue) == venue.quantity


async def test_the_executor_reports_each_partial_fill_once(venue: Venue) -> None:
    if not venue.partial_fills:
        pytest.skip(f"{venue.broker.name} fills resting orders whole")
    request = resting(venue, "partial-events")
    executor, bus = _executor(venue), MemoryBus()
    (placed,) = [o.event for o in await executor.place(_requested(venue, request))]
    assert isinstance(placed, OrderPlaced)
    third = venue.quantity / 4

    await venue.fill_partially(request.client_order_id, third)
    await executor.sync_open_orders(bus)
    await executor.sync_open_orders(bus)  # nothing new filled: nothing new said
    await venue.fill_partially(request.client_order_id, third)
    await executor.sync_open_orders(bus)

    partials = bus.take()
    assert [type(e).__name__ for e in partials] == ["OrderPartiallyFilled"] * 2
    assert [e.order.filled_quantity for e in partials] == [third, 2 * third]  # type: ignore[attr-defined]
    assert all(e.signal_id == placed.signal_id for e in partials)
    await venue.set_price(venue.price * Decimal("0.85"))
    await executor.sync_open_orders(bus)
    (executed,) = bus.take()
    assert isinstance(executed, TradeExecuted)
    assert executed.fill is not None and executed.fill.quantity == venue.quantity


async def test_a_partly_filled_order_cancelled_reports_the_part_that_filled(
        venue: Venue) -> None:
    if not venue.partial_fills:
        pytest.skip(f"{venue.broker.name} fills resting orders whole")
    request = resting(venue, "partial-cancel")
    await submitted(venue, request)
    half = venue.quantity / 2
    await venue.fill_partially(request.client_order_id, half)

    ended = await venue.broker.cancel_order(venue.account, request.client_order_id)

    # What filled is a trade (a position exists): reported as a fill of that part.
    assert ended is not None and ended.status == "filled"
    assert ended.fill is not None and ended.fill.quantity == half
    assert ended.reason
    assert await position(venue) == half
    out = await _executor(venue).place(_requested(venue, request))
    (executed,) = [o.event for o in out]
    assert isinstance(executed, TradeExecuted)
    assert executed.fill is not None and executed.fill.quantity == half


async def test_an_order_that_ended_while_the_executor_was_down_is_reported_after_restart(
        venue: Venue) -> None:
    request = resting(venue, "ended-while-down")
    executor = _executor(venue)
    (placed,) = [o.event for o in await executor.place(_requested(venue, request))]
    assert isinstance(placed, OrderPlaced)

    await venue.set_price(venue.price * Decimal("0.85"))  # fills while nobody watches
    # A restarted executor: the remembered orders survive (KV), the adapter is new.
    restarted = _executor(venue, broker=venue.fresh, open_orders=executor.open_orders)
    bus = MemoryBus()

    assert await restarted.sync_open_orders(bus) == 1
    (executed,) = bus.take()
    assert isinstance(executed, TradeExecuted)
    assert executed.signal_id == placed.signal_id
    assert executed.fill is not None and executed.fill.quantity == venue.quantity
    assert await restarted.open_orders.all() == []
    assert await restarted.sync_open_orders(bus) == 0  # forgotten: not asked again
    assert bus.take() == []


async def test_a_restarted_adapter_finds_an_ended_order_given_its_symbol(venue: Venue) -> None:
    request = order(venue, "ended-before-restart")
    placed = await submitted(venue, request)

    found = await venue.fresh.find_order(venue.account, request.client_order_id,
                                         venue.symbol)

    assert found is not None and found.fill is not None
    assert (found.order_id, found.status, found.fill.quantity) == (
        placed.order_id, "filled", venue.quantity)
    # A retry of the submit after a lost answer finds it too: nothing placed again.
    again = await venue.fresh.submit(venue.account, request)
    assert again.order_id == placed.order_id
    assert venue.placement_requests(request.client_order_id) == 1


# -- helpers ------------------------------------------------------------------------


class _OneBroker:
    """The executor's view of the adapters: every account trades on one adapter."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def for_account(self, account: object) -> object:
        return self.broker


def _executor(venue: Venue, broker: Broker | None = None,
              open_orders: OpenOrders | None = None) -> Executor:
    """An executor over the venue's adapter (or ``broker``), remembering its resting
    orders in ``open_orders`` (a new store if None)."""
    registry = MemoryRegistry()
    registry.add(venue.account)
    brokers: object = _OneBroker(broker or venue.broker)
    return Executor(registry, brokers, open_orders or OpenOrders(MemoryKV()),  # type: ignore[arg-type]
                    StepClock(NOW))


def _requested(venue: Venue, request: OrderRequest) -> OrderRequested:
    return OrderRequested(event_id=f"e-{request.client_order_id}",
                          signal_id=f"s-{request.client_order_id}", tenant_id="acme",
                          occurred_at=NOW, strategy_id="strategy-1",
                          account_id=venue.account.id, order=request)
