"""The paper broker on a real NATS KV bucket: idempotent, race-free, refuses cleanly,
rests limit orders and fills them once when a price crosses them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal as D

import msgspec
import pytest
from factories import NOW, ManualClock, make_account, make_order
from harness import connect_bus, paper_orders
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from contracts.orders import BrokerOrder, Fill
from contracts.streams import BUCKET_PAPER
from libs.brokers.base import BrokerRejected
from libs.brokers.paper import PaperAccount, PaperBroker
from libs.registry.models import Account
from libs.runtime.bus import Bus
from libs.runtime.embedded_nats import EmbeddedNats

ZERO = D(0)


@pytest.fixture
async def kv(bus: Bus) -> KeyValue:
    return await bus.kv(BUCKET_PAPER)


@pytest.fixture
def broker(kv: KeyValue) -> PaperBroker:
    return PaperBroker(kv, ManualClock(tick_s=1), slippage_bps=ZERO, fee_bps=ZERO)


@pytest.fixture
async def other_bus(nats_server: EmbeddedNats) -> AsyncIterator[Bus]:
    """A second connection, as a second executor process would have."""
    connection = await connect_bus(nats_server.url)
    yield connection
    await connection.close()


@pytest.fixture
async def other_broker(other_bus: Bus) -> PaperBroker:
    return PaperBroker(await other_bus.kv(BUCKET_PAPER), ManualClock(tick_s=1),
                       slippage_bps=ZERO, fee_bps=ZERO)


def filled(order: BrokerOrder) -> Fill:
    """The fill of an order that must have filled."""
    assert order.status == "filled", order
    assert order.fill is not None
    return order.fill


async def revision(kv: KeyValue, account: Account) -> int | None:
    try:
        entry = await kv.get(account.id)
    except KeyNotFoundError:
        return None
    return entry.revision


async def test_same_order_twice_returns_the_identical_fill_and_moves_cash_once(
    broker: PaperBroker, kv: KeyValue,
) -> None:
    account = make_account()
    order = make_order(quantity=D(10), reference_price=D(100))

    first = await broker.submit(account, order)
    rev = await revision(kv, account)
    again = await broker.submit(account, order)

    assert again == first
    assert first.submitted_at == NOW + timedelta(seconds=1)
    assert filled(first).filled_at == NOW + timedelta(seconds=1)
    assert filled(first).cash_after == D(99_000)
    assert await revision(kv, account) == rev
    snap = await broker.snapshot(account)
    assert snap.cash == D(99_000)
    assert snap.positions == {"AAPL": D(10)}
    assert snap.equity == D(100_000)


async def test_a_restarted_broker_returns_the_first_fill(
    broker: PaperBroker, other_broker: PaperBroker,
) -> None:
    account = make_account()
    order = make_order(quantity=D(4), reference_price=D(250))
    first = await broker.submit(account, order)

    assert await other_broker.find_order(account, order.client_order_id) == first
    assert await other_broker.find_order(account, "never-sent") is None
    # Even if the redelivered request differs, the recorded fill wins.
    assert await other_broker.submit(account, order) == first
    assert await other_broker.submit(account, make_order(quantity=D(7),
                                                         reference_price=D(1))) == first

    snap = await other_broker.snapshot(account)
    assert snap.cash == D(99_000)
    assert snap.positions == {"AAPL": D(4)}


async def test_concurrent_orders_through_two_brokers_lose_nothing(
    broker: PaperBroker, other_broker: PaperBroker, bus: Bus,
) -> None:
    account = make_account()
    orders = [make_order(client_order_id=f"bot-1714573800-{i:08x}", quantity=D(i),
                         reference_price=D(100)) for i in range(1, 21)]

    results = await asyncio.gather(*[
        (broker if i % 2 else other_broker).submit(account, order)
        for i, order in enumerate(orders)
    ])
    fills = [filled(result) for result in results]

    total = sum((o.quantity for o in orders), ZERO)
    assert total == D(210)
    assert [f.client_order_id for f in fills] == [o.client_order_id for o in orders]
    # Each fill saw a distinct state: no update was lost or applied on a stale copy.
    assert sorted(f.position_quantity for f in fills)[-1] == total
    assert len({f.position_quantity for f in fills}) == 20
    assert len({f.cash_after for f in fills}) == 20
    for fill in fills:
        assert fill.cash_after == D(100_000) - fill.position_quantity * D(100)
    snap = await broker.snapshot(account)
    assert snap.positions == {"AAPL": total}
    assert snap.cash == D(100_000) - total * D(100)
    assert snap.equity == D(100_000)
    for order, result in zip(orders, results, strict=True):
        assert await other_broker.find_order(account, order.client_order_id) == result
    held = await paper_orders(bus, account.id)
    assert sorted(held) == sorted(o.client_order_id for o in orders)
    assert all(o.status == "filled" for o in held.values())


async def test_concurrent_repeats_of_one_order_fill_it_once(
    broker: PaperBroker, other_broker: PaperBroker,
) -> None:
    account = make_account()
    order = make_order(quantity=D(3), reference_price=D(100))

    fills = await asyncio.gather(*[(broker, other_broker)[i % 2].submit(account, order)
                                   for i in range(10)])

    assert all(f == fills[0] for f in fills)
    snap = await broker.snapshot(account)
    assert snap.positions == {"AAPL": D(3)}
    assert snap.cash == D(99_700)


@pytest.mark.parametrize(("prepare", "order", "code"), [
    (False, make_order(reference_price=None), "no_price"),
    (True, make_order(client_order_id="x-1", symbol="MSFT", reference_price=None), "no_price"),
    (False, make_order(close_position=True, intent="exit_long", side="sell"), "no_position"),
    (True, make_order(client_order_id="x-2", symbol="MSFT", close_position=True,
                      intent="exit_long", side="sell"), "no_position"),
    (False, make_order(quantity=D(1001), reference_price=D(100)),
     "insufficient_buying_power"),
    (True, make_order(client_order_id="x-3", quantity=D(1001), reference_price=D(100)),
     "insufficient_buying_power"),
    (False, make_order(order_type="limit"), "missing_limit_price"),
    (True, make_order(client_order_id="x-4", order_type="stop", limit_price=D(90)),
     "missing_stop_price"),
    (True, make_order(client_order_id="x-5", quantity=D(1001), order_type="limit",
                      limit_price=D(101)), "insufficient_buying_power"),
], ids=["no-price-new", "no-price", "no-position-new", "no-position",
        "buying-power-new", "buying-power", "missing-limit-price", "missing-stop-price",
        "marketable-limit-buying-power"])
async def test_rejections_leave_the_book_unchanged_and_stay_rejected(
    broker: PaperBroker, kv: KeyValue, prepare: bool, order: object, code: str,
) -> None:
    account = make_account()
    if prepare:  # an account that already holds 10 AAPL bought at 100
        await broker.submit(account, make_order(quantity=D(10), reference_price=D(100)))
    before = await broker.snapshot(account)

    with pytest.raises(BrokerRejected) as caught:
        await broker.submit(account, order)  # type: ignore[arg-type]

    assert caught.value.code == code
    assert await broker.snapshot(account) == before
    # The refusal is remembered: a redelivered request gets it again, never a trade.
    recorded = await broker.find_order(account, order.client_order_id)  # type: ignore[attr-defined]
    assert recorded is not None
    assert (recorded.status, recorded.reason) == ("rejected", f"{code}: {caught.value.reason}")
    if code == "no_price":  # a price known by now would have filled it
        await broker.record_price("AAPL", D(100))
        await broker.record_price("MSFT", D(100))
    assert await broker.submit(account, order) == recorded  # type: ignore[arg-type]
    assert await broker.snapshot(account) == before


async def test_flip_into_a_short_beyond_equity_is_refused_but_closing_the_long_is_not(
    broker: PaperBroker, kv: KeyValue,
) -> None:
    account = make_account(starting_cash=D(10_000))
    await broker.submit(account, make_order(client_order_id="open", quantity=D(10),
                                            reference_price=D(100)))
    # Selling 111 closes the 10 long and opens 101 short: 10 100 > 10 000 equity.
    flip = make_order(client_order_id="flip", side="sell", quantity=D(111),
                      close_quantity=D(10), intent="enter_short", reference_price=D(100))

    with pytest.raises(BrokerRejected) as caught:
        await broker.submit(account, flip)

    assert caught.value.code == "insufficient_buying_power"
    assert (await broker.snapshot(account)).positions == {"AAPL": D(10)}
    # The largest flip equity allows (opening 100 short) is accepted...
    allowed = make_order(client_order_id="flip-ok", side="sell", quantity=D(110),
                         close_quantity=D(10), intent="enter_short", reference_price=D(100))
    fill = filled(await broker.submit(account, allowed))
    assert fill.position_quantity == D(-100)
    # ...and closing exactly the position needs no buying power at all.
    close = make_order(client_order_id="close", side="buy", quantity=D(100),
                       intent="exit_short", reference_price=D(100))
    fill = filled(await broker.submit(account, close))
    assert fill.position_quantity == ZERO
    snap = await broker.snapshot(account)
    assert snap.positions == {}
    assert snap.cash == D(10_000)


async def test_closing_exactly_a_long_larger_than_cash_is_allowed(
    broker: PaperBroker,
) -> None:
    account = make_account(starting_cash=D(1_000))
    await broker.submit(account, make_order(client_order_id="open", quantity=D(10),
                                            reference_price=D(100)))
    # The price fell: equity is now 500, yet selling the whole 10 long must go through.
    close = make_order(client_order_id="close", side="sell", quantity=D(10),
                       intent="exit_long", reference_price=D(50))

    fill = filled(await broker.submit(account, close))

    assert fill.position_quantity == ZERO
    assert fill.realised_pnl == D(-500)
    snap = await broker.snapshot(account)
    assert snap.positions == {}
    assert snap.cash == D(500)
    # Opening a short beyond the remaining equity is still refused.
    with pytest.raises(BrokerRejected) as caught:
        await broker.submit(account, make_order(client_order_id="short", side="sell",
                                                quantity=D(11), intent="enter_short",
                                                reference_price=D(50)))
    assert caught.value.code == "insufficient_buying_power"


async def test_close_position_order_flattens_whatever_is_held(broker: PaperBroker) -> None:
    account = make_account()
    await broker.submit(account, make_order(client_order_id="open", quantity=D(7),
                                            reference_price=D(100)))

    fill = filled(await broker.submit(account, make_order(
        client_order_id="close", side="sell", quantity=D(1), intent="exit_long",
        close_position=True, reference_price=None)))

    assert (fill.side, fill.quantity, fill.average_price) == ("sell", D(7), D(100))
    assert (await broker.snapshot(account)).positions == {}


# --- resting orders -------------------------------------------------------------------

RESTING = make_order(client_order_id="rest-1", quantity=D(10), order_type="limit",
                     limit_price=D(95), reference_price=D(100))


async def test_a_limit_order_below_the_market_rests_without_touching_cash(
    broker: PaperBroker, other_broker: PaperBroker,
) -> None:
    account = make_account()

    placed = await broker.submit(account, RESTING)

    assert (placed.status, placed.fill) == ("open", None)
    assert (placed.order_type, placed.limit_price, placed.quantity) == ("limit", D(95), D(10))
    assert await other_broker.open_orders(account) == [placed]
    assert await other_broker.find_order(account, "rest-1") == placed
    assert await other_broker.submit(account, RESTING) == placed  # no second order
    snap = await broker.snapshot(account)
    assert snap.cash == D(100_000)
    assert snap.positions == {}
    # The alert's price of a limit order is the order's own price, not the market's.
    assert snap.last_prices == {}


async def test_a_price_that_does_not_cross_leaves_the_order_resting(
    broker: PaperBroker,
) -> None:
    account = make_account()
    placed = await broker.submit(account, RESTING)

    assert await broker.observe_price(account, "AAPL", D("95.01")) == []
    assert await broker.observe_price(account, "MSFT", D(1)) == []
    assert await broker.open_orders(account) == [placed]
    assert (await broker.snapshot(account)).cash == D(100_000)


async def test_a_crossing_price_fills_the_order_once_when_seen_twice(
    broker: PaperBroker, kv: KeyValue,
) -> None:
    account = make_account()
    await broker.submit(account, RESTING)

    changed = await broker.observe_price(account, "AAPL", D(94))
    rev = await revision(kv, account)
    again = await broker.observe_price(account, "AAPL", D(94))

    assert [o.client_order_id for o in changed] == ["rest-1"]
    fill = filled(changed[0])
    assert (fill.quantity, fill.average_price, fill.position_quantity) == (D(10), D(94), D(10))
    assert fill.filled_at == NOW + timedelta(seconds=2)
    assert again == []
    assert await revision(kv, account) == rev
    assert await broker.find_order(account, "rest-1") == changed[0]
    assert await broker.open_orders(account) == []
    assert await broker.submit(account, RESTING) == changed[0]
    snap = await broker.snapshot(account)
    assert snap.cash == D(100_000) - D(940)
    assert snap.positions == {"AAPL": D(10)}


async def test_concurrent_price_observations_through_two_brokers_fill_once(
    broker: PaperBroker, other_broker: PaperBroker,
) -> None:
    account = make_account()
    await broker.submit(account, RESTING)
    await broker.submit(account, make_order(client_order_id="rest-2", quantity=D(5),
                                            order_type="limit", limit_price=D(93),
                                            reference_price=None))

    results = await asyncio.gather(*[
        (broker, other_broker)[i % 2].observe_price(account, "AAPL", D(90))
        for i in range(10)
    ])

    changed = [order for result in results for order in result]
    assert sorted(o.client_order_id for o in changed) == ["rest-1", "rest-2"]
    assert all(o.status == "filled" for o in changed)
    # Both fills came from the one observation that won the compare-and-set.
    assert sum(1 for result in results if result) == 1
    snap = await other_broker.snapshot(account)
    assert snap.positions == {"AAPL": D(15)}
    assert snap.cash == D(100_000) - D(15) * D(90)
    assert await other_broker.open_orders(account) == []


async def test_a_canceled_order_is_not_filled_by_a_crossing_price(
    broker: PaperBroker, other_broker: PaperBroker,
) -> None:
    account = make_account()
    placed = await broker.submit(account, RESTING)

    canceled = await other_broker.cancel_order(account, "rest-1")

    assert canceled is not None
    assert (canceled.status, canceled.fill) == ("canceled", None)
    assert canceled.order_id == placed.order_id
    assert await broker.open_orders(account) == []
    assert await broker.observe_price(account, "AAPL", D(90)) == []
    assert await broker.find_order(account, "rest-1") == canceled
    assert await broker.cancel_order(account, "rest-1") == canceled
    snap = await broker.snapshot(account)
    assert snap.cash == D(100_000)
    assert snap.positions == {}


async def test_cancel_leaves_filled_and_unknown_orders_alone(
    broker: PaperBroker, kv: KeyValue,
) -> None:
    account = make_account()
    done = await broker.submit(account, make_order(quantity=D(1), reference_price=D(100)))
    rev = await revision(kv, account)

    assert await broker.cancel_order(account, done.client_order_id) == done
    assert await broker.cancel_order(account, "never-sent") is None
    assert await revision(kv, account) == rev


async def test_old_closed_orders_move_out_of_the_entry_and_stay_findable(kv: KeyValue) -> None:
    broker = PaperBroker(kv, ManualClock(tick_s=1), slippage_bps=ZERO, fee_bps=ZERO, keep_closed=2)
    account = make_account()
    placed = []
    for n in range(7):
        order = make_order(client_order_id=f"bot-{n}", quantity=D(1), reference_price=D(100))
        placed.append(await broker.submit(account, order))
    state = msgspec.json.decode((await kv.get(account.id)).value or b"", type=PaperAccount)
    # The 5th closed order passed 2 x keep: the oldest three moved out, leaving the
    # newest two; two more came since. The entry never held more than four.
    assert list(state.orders) == ["bot-3", "bot-4", "bot-5", "bot-6"]
    assert state.archived == 3
    for first in placed:
        # Every order is still found, and a repeat never trades again.
        assert await broker.find_order(account, first.client_order_id) == first
        again = make_order(client_order_id=first.client_order_id, quantity=D(1),
                           reference_price=D(100))
        assert await broker.submit(account, again) == first
    assert await broker.cancel_order(account, "bot-0") == placed[0]
    assert (await broker.snapshot(account)).positions == {"AAPL": D(7)}


class _CountingKV:
    """The bucket, counting reads of the account entries."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv
        self.reads = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.kv, name)

    async def get(self, key: str, *args: object, **kwargs: object) -> object:
        self.reads += 1
        return await self.kv.get(key, *args, **kwargs)  # type: ignore[arg-type]


async def test_orders_in_turn_read_the_entry_once_and_a_stale_one_is_read_again(
    kv: KeyValue, other_broker: PaperBroker,
) -> None:
    counting = _CountingKV(kv)
    broker = PaperBroker(counting, ManualClock(tick_s=1),  # type: ignore[arg-type]
                         slippage_bps=ZERO, fee_bps=ZERO)
    account = make_account()
    for i in range(3):
        await broker.submit(account, make_order(client_order_id=f"bot-1-{i}", quantity=D(1),
                                                reference_price=D(100)))
    assert counting.reads == 1  # the first order's; the others used the kept entry
    # Another executor trades the account: the kept entry is stale now.
    await other_broker.submit(account, make_order(client_order_id="bot-2-0", quantity=D(5),
                                                  reference_price=D(100)))
    late = await broker.submit(account, make_order(client_order_id="bot-1-3", quantity=D(1),
                                                   reference_price=D(100)))
    assert filled(late).position_quantity == D(9)  # 3 + 5 + 1: nothing lost
    assert (await broker.snapshot(account)).cash == D(100_000) - D(900)
    # An order the other executor placed is found and canceled through the kept entry.
    placed = await other_broker.submit(account, RESTING)
    canceled = await broker.cancel_order(account, placed.client_order_id)
    assert canceled is not None and canceled.status == "canceled"


async def test_prices_recorded_through_two_processes_keep_the_newest_observation(
    bus: Bus, other_bus: Bus,
) -> None:
    from contracts.streams import BUCKET_PRICES
    from libs.brokers.market_prices import MarketPrices

    mine = MarketPrices(await bus.kv(BUCKET_PRICES))
    theirs = MarketPrices(await other_bus.kv(BUCKET_PRICES))
    assert await mine.record("AAPL", D(101), NOW)  # mine keeps it
    assert await theirs.record("AAPL", D(103), NOW + timedelta(seconds=3))
    # Mine still keeps 101 at NOW, older than what is recorded by now.
    assert not await mine.record("AAPL", D(102), NOW + timedelta(seconds=2))
    assert await mine.get("AAPL") == D(103)
    assert await mine.record("AAPL", D(104), NOW + timedelta(seconds=4))
    assert await theirs.get("AAPL") == D(104)
