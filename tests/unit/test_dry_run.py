"""Dry runs through the real risk, executor, monitor and paper broker (in memory): a
decision and one terminal event, never an order, a reservation or a count."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import msgspec
import pytest
from test_position_model import ACCOUNT, STRATEGIES, Pipeline

from contracts.events import (
    OrderRequested,
    TradeExecuted,
    WebhookFailed,
    WebhookReceived,
    WebhookValidated,
)
from contracts.signals import Signal
from libs.http.problems import Problem
from libs.intake.dry_run import dry_run_key, dry_run_requested
from services.validator.handlers import Validator


@pytest.fixture
def pipe() -> Iterator[Pipeline]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield Pipeline()
    loop.close()


def run(coro: Any) -> Any:
    return asyncio.get_event_loop().run_until_complete(coro)


def validated(pipe: Pipeline, n: int, intent: str, quantity: int | None, *,
              dry_run: bool, strategy: str = "bare") -> WebhookValidated:
    pipe.clock.advance(1)
    sid = f"{n:08x}-0000-4000-8000-000000000000"
    return WebhookValidated(
        event_id=f"validated-{sid}", signal_id=sid, tenant_id="acme",
        occurred_at=pipe.clock.now(), strategy_id=STRATEGIES[strategy].id,
        account_id=ACCOUNT.id, dry_run=dry_run,
        signal=Signal(dialect="exchange", symbol="KO", asset_class="equity", intent=intent,
                      quantity=None if quantity is None else D(quantity), price=D(50)))


def of(pipe: Pipeline, signal_id: str) -> list[Any]:
    return [e for e in pipe.log if e.signal_id == signal_id]


def ledger(pipe: Pipeline) -> bytes:
    entries = pipe.risk.ledgers.kv.entries  # type: ignore[attr-defined]
    entry = entries.get(ACCOUNT.id)
    return b"" if entry is None else bytes(entry.value)


def test_a_dry_run_decides_and_ends_without_an_order(pipe: Pipeline) -> None:
    run(pipe.deliver(validated(pipe, 1, "enter_long", 10, dry_run=False)))
    book, counted = run(pipe.state()), ledger(pipe)
    dry = validated(pipe, 2, "enter_long", 7, dry_run=True)
    run(pipe.deliver(dry))

    events = of(pipe, dry.signal_id)
    assert [type(e) for e in events] == [WebhookValidated, TradeExecuted]
    terminal = events[-1]
    assert terminal.dry_run is True and terminal.fill is None and terminal.fills == []
    assert terminal.request is not None
    assert (terminal.request.side, terminal.request.quantity) == ("buy", D(7))
    assert not any(isinstance(e, OrderRequested) for e in events)
    # The broker's book, its orders and risk's ledger are exactly as before.
    assert run(pipe.state()) == book
    assert ledger(pipe) == counted
    # A real signal after it is decided as if the dry run never happened.
    real = validated(pipe, 3, "exit_long", None, dry_run=False)
    run(pipe.deliver(real))
    assert of(pipe, real.signal_id)[-1].fill.quantity == D(10)


def test_a_dry_run_refusal_is_not_remembered(pipe: Pipeline) -> None:
    counted = ledger(pipe)
    dry = validated(pipe, 1, "exit_long", None, dry_run=True)
    run(pipe.deliver(dry))
    (failed,) = [e for e in of(pipe, dry.signal_id) if isinstance(e, WebhookFailed)]
    assert (failed.code, failed.stage, failed.dry_run) == ("no_position", "risk", True)
    assert ledger(pipe) == counted
    assert run(pipe.state()).book.positions == {}


def test_the_validator_carries_the_flag() -> None:
    loop = asyncio.new_event_loop()
    pipe = Pipeline()
    received = WebhookReceived(
        event_id="r", signal_id="s-1", tenant_id="acme", occurred_at=pipe.clock.now(),
        strategy_id=STRATEGIES["bare"].id, account_id=ACCOUNT.id, dialect="exchange",
        payload={"action": "buy", "symbol": "KO", "quantity": "1"},
        content_type="application/json", auth_mode="token", dry_run=True)
    validator = Validator(pipe.registry, pipe.clock)  # type: ignore[arg-type]
    (out,) = loop.run_until_complete(validator.handle(received))
    assert isinstance(out.event, WebhookValidated) and out.event.dry_run is True
    bad = msgspec.structs.replace(received, payload={"action": "buy"})
    (out,) = loop.run_until_complete(validator.handle(bad))
    assert isinstance(out.event, WebhookFailed) and out.event.dry_run is True
    loop.close()


@pytest.mark.parametrize(("query", "headers", "expected"), [
    ({}, {}, False), ({"dry_run": "1"}, {}, True), ({"dry_run": "true"}, {}, True),
    ({"dry_run": "0"}, {}, False), ({}, {"X-Dry-Run": "yes"}, True),
    ({"dry_run": "0"}, {"X-Dry-Run": "1"}, True)])
def test_the_request_flag(query: dict[str, str], headers: dict[str, str],
                          expected: bool) -> None:
    assert dry_run_requested(query, headers) is expected


def test_a_bad_flag_is_a_422_naming_it() -> None:
    with pytest.raises(Problem) as caught:
        dry_run_requested({"dry_run": "maybe"}, {})
    assert (caught.value.status, caught.value.extra) == (422, {"field": "dry_run"})
    assert dry_run_key("k", True) != dry_run_key("k", False) == "k"
