"""A newer entry's protective legs replace older ones when the executor places them,
even when it places several entries' legs in a row (it lagged behind the fills)."""

from __future__ import annotations

from decimal import Decimal as D

from factories import ManualClock, OneAccount, make_order, make_order_requested
from nats.js.kv import KeyValue

from contracts.orders import OrderRequest, entry_order_id
from contracts.streams import BUCKET_OPEN_ORDERS, BUCKET_PAPER
from libs.brokers.factory import Brokers
from libs.brokers.paper import PaperBroker
from libs.runtime.bus import Bus
from services.executor.handlers import Executor
from services.executor.open_orders import OpenOrders


def legs(entry: str, stop: str, limit: str, quantity: str) -> list[OrderRequest]:
    return [make_order(client_order_id=f"{entry}-sl", side="sell", quantity=D(quantity),
                       intent="close", order_type="stop", stop_price=D(stop),
                       reference_price=None, time_in_force="gtc", leg="sl", oco_group=entry),
            make_order(client_order_id=f"{entry}-tp", side="sell", quantity=D(quantity),
                       intent="close", order_type="limit", limit_price=D(limit),
                       reference_price=None, time_in_force="gtc", leg="tp", oco_group=entry)]


async def test_each_entry_s_legs_replace_the_previous_ones(bus: Bus) -> None:
    paper = PaperBroker(await bus.kv(BUCKET_PAPER), ManualClock(), slippage_bps=D(0),
                        fee_bps=D(0))
    registry = OneAccount()
    account = registry.account_
    open_orders: KeyValue = await bus.kv(BUCKET_OPEN_ORDERS)
    executor = Executor(registry, Brokers(paper), OpenOrders(open_orders),  # type: ignore[arg-type]
                        ManualClock())
    for n, entry in enumerate(["bot-1-aaaa", "bot-2-bbbb"], start=1):
        await paper.submit(account, make_order(client_order_id=entry, quantity=D(1)))
        for leg in legs(entry, stop="90", limit="120", quantity=str(n)):
            await executor.handle(make_order_requested(order=leg, signal_id=f"sig-{n}"))

    resting = await paper.open_orders(account)
    assert sorted(o.client_order_id for o in resting) == ["bot-2-bbbb-sl", "bot-2-bbbb-tp"]
    assert all(o.quantity == D(2) for o in resting)  # the whole position, once
    # A redelivered leg of the newest entry changes nothing.
    await executor.handle(make_order_requested(order=legs("bot-2-bbbb", "90", "120", "2")[0],
                                               signal_id="sig-2"))
    assert len(await paper.open_orders(account)) == 2


def test_entry_order_id_strips_only_leg_suffixes() -> None:
    assert entry_order_id("bot-1-aaaa-sl") == "bot-1-aaaa"
    assert entry_order_id("bot-1-aaaa-tp") == "bot-1-aaaa"
    assert entry_order_id("bot-1-aaaa") == "bot-1-aaaa"
    assert entry_order_id("bot-1-aaaa-close") == "bot-1-aaaa-close"
