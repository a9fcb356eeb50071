"""The executor places a batch of one paper account's market orders exactly as it
places them one after the other: the same events, the same book, the same prices."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from fakes.memory import MemoryKV
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.events import OrderRequested, TradeExecuted
from libs.brokers.factory import Brokers
from libs.brokers.market_prices import MarketPrices
from libs.brokers.paper import PaperBroker
from services.executor.handlers import Executor
from services.executor.open_orders import OpenOrders
from tests.factories import (
    ACCOUNT_ID,
    NOW,
    ManualClock,
    OneAccount,
    make_account,
    make_order,
    make_order_requested,
)

# An order: side, quantity, alert price (None: none), seconds after NOW it was
# requested (out of order sometimes: an older price loses), a repeat of an earlier one.
Step = tuple[str, int, int | None, int, bool]
steps = st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.integers(1, 600),
                           st.one_of(st.none(), st.integers(90, 110)), st.integers(0, 20),
                           st.booleans()), max_size=25)
chunks = st.lists(st.integers(1, 6), min_size=1, max_size=8)


class Stores:
    """The KV buckets of one executor."""

    def __init__(self) -> None:
        self.paper, self.prices, self.open = MemoryKV(), MemoryKV(), MemoryKV()

    def executor(self) -> Executor:
        clock = ManualClock()
        paper = PaperBroker(self.paper, clock, Decimal(0), Decimal(0),  # type: ignore[arg-type]
                            prices=self.prices)  # type: ignore[arg-type]
        world: Any = OneAccount(account_=make_account(starting_cash=Decimal(20_000)))
        return Executor(world, Brokers(paper), OpenOrders(self.open),  # type: ignore[arg-type]
                        clock)


def requests(script: list[Step]) -> list[OrderRequested]:
    out: list[OrderRequested] = []
    for n, (side, quantity, price, seconds, repeat) in enumerate(script):
        if repeat and out:
            out.append(out[n % len(out)])
            continue
        order = make_order(client_order_id=f"bot-1-{n:04d}", side=side,
                           quantity=Decimal(quantity),
                           reference_price=None if price is None else Decimal(price))
        out.append(make_order_requested(signal_id=f"s-{n}", event_id=f"o-{n}", order=order,
                                        occurred_at=NOW + timedelta(seconds=seconds)))
    return out


async def play(events: list[OrderRequested], sizes: list[int] | None,
               resting: bool = False) -> Any:
    stores = Stores()
    executor = stores.executor()
    out: list[Any] = []
    if resting:  # a limit order rests first: an alert price may fill it
        out.append(list(await executor.handle(make_order_requested(
            signal_id="rest", event_id="rest", order=make_order(
                client_order_id="bot-1-rest", order_type="limit", limit_price=Decimal(95),
                quantity=Decimal(3), reference_price=None)))))
    if sizes is None:
        out += [list(await executor.handle(event)) for event in events]
    else:
        at, turn = 0, 0
        while at < len(events):
            size = sizes[turn % len(sizes)]
            out += await executor.place_many(events[at:at + size])
            at, turn = at + size, turn + 1
    book = (await stores.paper.get(ACCOUNT_ID)).value if stores.paper.entries else None
    price = await MarketPrices(stores.prices).get("AAPL")  # type: ignore[arg-type]
    return [[(type(o.event).__name__, o.msg_id, o.event) for o in outs] for outs in out], \
        book, price


@settings(max_examples=150, deadline=None)
@given(steps, chunks, st.booleans())
async def test_a_batch_is_placed_as_its_orders_one_by_one(script: list[Step],
                                                          sizes: list[int],
                                                          resting: bool) -> None:
    events = requests(script)
    assert await play(events, sizes, resting) == await play(events, None, resting)


async def test_a_run_of_orders_writes_the_account_and_the_price_once() -> None:
    stores = Stores()
    executor = stores.executor()
    events = requests([("buy", 1, 100 + n, n, False) for n in range(5)])
    revisions = (stores.paper.revision, stores.prices.revision)
    out = await executor.place_many(events)
    assert [type(o[0].event).__name__ for o in out] == ["TradeExecuted"] * 5
    assert stores.paper.revision - revisions[0] == 1
    assert stores.prices.revision - revisions[1] == 1
    assert await MarketPrices(stores.prices).get("AAPL") == Decimal(104)  # type: ignore[arg-type]


async def test_an_order_with_its_alert_price_does_not_read_the_market_back() -> None:
    """The price an order meets is the one its own alert just recorded: once this
    executor knows the price's revision, an order alone in its batch reads no price."""
    stores = Stores()
    reads: list[str] = []
    read = stores.prices.get

    async def counted(key: str) -> Any:
        reads.append(key)
        return await read(key)

    stores.prices.get = counted  # type: ignore[method-assign]
    executor = stores.executor()
    first, second = requests([("buy", 1, 100, 0, False), ("sell", 1, 101, 1, False)])
    await executor.place_many([first])
    reads.clear()
    out = await executor.place_many([second])
    executed = out[0][0].event
    assert isinstance(executed, TradeExecuted) and executed.fill is not None
    assert executed.fill.average_price == Decimal(101)
    assert reads == []
