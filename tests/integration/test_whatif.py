"""What-if replay on SQLite and PostgreSQL: unchanged settings give back the recorded
fills exactly, changed ones change the orders, the same inputs give the same report."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal as D

import pytest
from factories import (
    NOW,
    ManualClock,
    make_account_opened,
    make_signal,
    make_strategy,
    make_strategy_registered,
)
from harness import BACKENDS

from cli.main import main
from contracts.events import AnyEvent, OrderRequested, TradeExecuted, WebhookValidated
from contracts.orders import Fill
from domain.ledger import Book, apply_fill
from libs.brokers.base import AccountSnapshot
from projections.store import EventStore
from services.risk.dry_run import would_order
from services.risk.ledger import RiskLedger
from services.risk.rules import client_order_id

pytestmark = pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
STRATEGY = make_strategy(sizing_mode="fixed_quantity", fixed_quantity=D(2),
                         max_order_notional=None)
PRICES = [D(100), D(104), D(98), D(110), D(107), D(95)]


def recording() -> list[AnyEvent]:
    """What the pipeline recorded: each signal decided by risk's own code against the
    paper book, filled at the market with a fee (entries long, every third an exit)."""
    book = Book(cash=D(100_000))
    out: list[AnyEvent] = [
        make_account_opened(event_id="opened", starting_cash=D(100_000)),
        make_strategy_registered(event_id="registered",
                                 record=STRATEGY.model_dump(mode="json")),
    ]
    ledger = RiskLedger()
    for n, price in enumerate(PRICES):
        at = NOW + timedelta(minutes=n + 1)
        sig = f"sig-{n}"
        intent = "exit_long" if n % 3 == 2 else "enter_long"
        validated = WebhookValidated(
            event_id=f"{sig}-v", signal_id=sig, tenant_id="acme", occurred_at=at,
            strategy_id=STRATEGY.id, account_id="acc-1",
            signal=make_signal(intent=intent, price=price))
        snapshot = AccountSnapshot(cash=book.cash, equity=book.equity(),
                                   positions={s: p.quantity for s, p in book.positions.items()},
                                   last_prices=dict(book.last_prices))
        coid = client_order_id(STRATEGY, sig, at)
        order = would_order(validated, STRATEGY, snapshot, ledger, coid, ManualClock(at))
        assert not hasattr(order, "code"), order
        quantity = abs(book.position_quantity("AAPL")) if order.close_position \
            else order.quantity  # type: ignore[union-attr]
        filled = price + D("0.05")  # the market moved a little from the alert
        fill = Fill(order_id=f"o-{n}", client_order_id=coid, symbol="AAPL",
                    side=order.side, quantity=quantity, average_price=filled,  # type: ignore[union-attr]
                    fee=D("0.25"), filled_at=at)
        apply_fill(book, "AAPL", fill.side, quantity, filled, fill.fee)
        ledger.count(quantity * price)
        out += [validated,
                OrderRequested(event_id=f"{sig}-o", signal_id=sig, tenant_id="acme",
                               occurred_at=at, strategy_id=STRATEGY.id, account_id="acc-1",
                               order=order),  # type: ignore[arg-type]
                TradeExecuted(event_id=f"{sig}-x", signal_id=sig, tenant_id="acme",
                              occurred_at=at, strategy_id=STRATEGY.id, account_id="acc-1",
                              broker="paper", fill=fill)]
    return out


def what_if(capsys: pytest.CaptureFixture[str], *changes: str) -> dict[str, object]:
    argv = ["what-if", "acc-1", "--json"]
    for change in changes:
        argv += ["--set", change]
    assert main(argv) == 0
    report: dict[str, object] = json.loads(capsys.readouterr().out)
    return report


def test_unchanged_settings_reproduce_the_recorded_fills(
    url: str, store: EventStore, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRADEHOOKS_DATABASE_URL", url)
    store.append(recording())

    report = what_if(capsys)

    assert report["signals"] == 6
    assert report["changed"] == []
    assert report["recorded"] == report["replayed"]
    assert report["replayed"]["fills"] == 6  # type: ignore[index]
    assert what_if(capsys) == report  # deterministic


def test_changed_settings_change_the_orders_and_the_outcome(
    url: str, store: EventStore, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRADEHOOKS_DATABASE_URL", url)
    store.append(recording())

    bigger = what_if(capsys, "fixed_quantity=5")
    capped = what_if(capsys, "max_order_notional=150")

    changed = bigger["changed"]
    assert [c["replayed"][0]["quantity"] for c in changed  # type: ignore[union-attr, index]
            if c["replayed"] and c["replayed"][0]["side"] == "buy"] == ["5"] * 4  # type: ignore[index]
    # Two entries of 5 (at 100.05 and 104.05) closed at 98.05, two (110.05, 107.05) at 95.05.
    assert D(bigger["replayed"]["realised_pnl"]) == \
        10 * (D("98.05") - D("102.05")) + 10 * (D("95.05") - D("108.55"))  # type: ignore[index]
    # 2 shares at 100-110 are over 150 of notional: every entry refused, nothing to exit.
    assert capped["replayed"]["refused_by"] == {  # type: ignore[index]
        "max_order_notional": 4, "no_position": 2}
    assert capped["replayed"]["fills"] == 0  # type: ignore[index]
    assert main(["what-if", "acc-1", "--set", "fixed_quantity=-1"]) == 2
