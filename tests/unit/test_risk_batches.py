"""Risk decides a batch of signals exactly as it decides them one after the other:
the same answers (orders, refusals, nothing for an ended redelivery), the same ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fakes.memory import MemoryKV
from hypothesis import given, settings
from hypothesis import strategies as st

from services.risk.handlers import RiskService
from services.risk.ledger import RiskDecisions, RiskLedgers
from tests.factories import (
    ACCOUNT_ID,
    ManualClock,
    OneAccount,
    make_account,
    make_signal,
    make_strategy,
    make_trade_executed,
    make_validated,
)

# One step of a trading day: a signal (new, or a redelivery of an earlier one), the
# terminal event of an earlier signal, or the account paused or resumed.
Step = tuple[str, int, int]
steps = st.lists(st.tuples(st.sampled_from(["buy", "sell", "again", "ended", "pause"]),
                           st.integers(1, 4), st.integers(0, 30)), max_size=30)


def service(world: OneAccount) -> RiskService:
    wired: Any = world
    return RiskService(wired, wired, RiskLedgers(MemoryKV()),  # type: ignore[arg-type]
                       RiskDecisions(MemoryKV()), ManualClock())  # type: ignore[arg-type]


def world() -> OneAccount:
    return OneAccount(strategy_=make_strategy(sizing_mode="alert_contracts",
                                              daily_order_limit=12,
                                              max_position_quantity=Decimal(6)))


def signal(n: int, action: str, quantity: int) -> Any:
    side = {"buy": "enter_long", "sell": "enter_short"}[action]
    return make_validated(signal_id=f"s-{n}", event_id=f"v-{n}",
                          signal=make_signal(intent=side, quantity=Decimal(quantity)))


def answers(outputs: list[Any]) -> list[Any]:
    """What an answer says (its outputs' types, messages ids and bodies)."""
    return [[(type(o.event).__name__, o.msg_id, o.event) for o in out] for out in outputs]


async def play(script: list[Step], chunked: bool) -> tuple[list[Any], Any]:
    """Run ``script``: signals one at a time, or each run of them as one batch."""
    here = world()
    risk = service(here)
    sent: list[Any] = []
    pending: list[Any] = []
    out: list[Any] = []

    async def flush() -> None:
        if chunked:
            out.extend(await risk.decide_many(pending))
        else:
            out.extend([list(await risk.handle(event)) for event in pending])
        pending.clear()

    for action, quantity, pick in script:
        if action in ("buy", "sell"):
            event = signal(len(sent), action, quantity)
            sent.append(event)
            pending.append(event)
        elif action == "again" and sent:
            pending.append(sent[pick % len(sent)])
        elif action == "ended" and sent:
            await flush()
            await risk.free(make_trade_executed(signal_id=sent[pick % len(sent)].signal_id))
        elif action == "pause":
            await flush()
            here.account_ = make_account(paused=not here.account_.paused,
                                         paused_reason="breaker")
    await flush()
    ledger, _ = await risk.ledgers.load(ACCOUNT_ID)
    return answers(out), ledger


@settings(max_examples=150, deadline=None)
@given(steps)
async def test_a_batch_is_answered_as_its_signals_one_by_one(script: list[Step]) -> None:
    assert await play(script, chunked=True) == await play(script, chunked=False)


async def test_a_run_of_new_orders_is_reserved_in_one_write() -> None:
    here = world()
    risk = service(here)
    writes = 0
    save = risk.ledgers.save

    async def counted(*args: Any) -> bool:
        nonlocal writes
        writes += 1
        return await save(*args)

    risk.ledgers.save = counted  # type: ignore[method-assign]
    out = await risk.decide_many([signal(n, "buy", 1) for n in range(5)])
    assert [type(o[0].event).__name__ for o in out] == ["OrderRequested"] * 5
    assert writes == 1
    ledger, _ = await risk.ledgers.load(ACCOUNT_ID)
    assert (ledger.orders_today, len(ledger.pending)) == (5, 5)


async def test_terminal_events_of_a_batch_release_their_reservations_in_one_write() -> None:
    from tests.factories import make_failed

    risk = service(world())
    await risk.decide_many([signal(n, "buy", 1) for n in range(4)])
    writes = 0
    save = risk.ledgers.save

    async def counted(*args: Any) -> bool:
        nonlocal writes
        writes += 1
        return await save(*args)

    risk.ledgers.save = counted  # type: ignore[method-assign]
    ended = [make_trade_executed(signal_id="s-0"), make_failed(signal_id="s-2"),
             make_failed(signal_id="never-reserved"), make_trade_executed(signal_id="s-3")]
    assert await risk.free_many(ended) == [[], [], [], []]
    assert writes == 1
    ledger, _ = await risk.ledgers.load(ACCOUNT_ID)
    assert [r.signal_id for r in ledger.pending.values()] == ["s-1"]


async def test_the_filled_part_of_a_resting_order_is_counted_once() -> None:
    """A resting order partly filled is in the broker's position for that part and
    in the reservation for the rest only: not both (which refused a signal that fits)."""
    from contracts.events import OrderPartiallyFilled
    from tests.factories import NOW, make_broker_order

    here = world()  # at most 6 held
    risk = service(here)
    (first,) = await risk.decide_many([signal(0, "buy", 4)])
    order = first[0].event.order
    here.positions = {"AAPL": Decimal(2)}  # 2 of the 4 filled; 2 rest
    part = OrderPartiallyFilled(
        event_id="p-0", signal_id="s-0", tenant_id="acme", occurred_at=NOW,
        strategy_id=here.strategy_.id, account_id=ACCOUNT_ID, broker="paper",
        order=make_broker_order(client_order_id=order.client_order_id, quantity=Decimal(4),
                                filled_quantity=Decimal(2), side="buy"))
    assert await risk.free_many([part, part]) == [[], []]  # a repeat changes nothing
    ledger, _ = await risk.ledgers.load(ACCOUNT_ID)
    assert ledger.pending_quantity("AAPL") == Decimal(2)
    # 2 held + 2 resting + 2 more = 6: within the limit (8 was counted before).
    (second,) = await risk.decide_many([signal(1, "buy", 2)])
    assert type(second[0].event).__name__ == "OrderRequested", second
    (third,) = await risk.decide_many([signal(2, "buy", 1)])
    assert type(third[0].event).__name__ == "WebhookFailed"
    assert third[0].event.code == "max_position_quantity"
    # The final fill releases what is left.
    assert await risk.free_many([make_trade_executed(signal_id="s-0")]) == [[]]
    ledger, _ = await risk.ledgers.load(ACCOUNT_ID)
    assert [r.signal_id for r in ledger.pending.values()] == ["s-1"]
