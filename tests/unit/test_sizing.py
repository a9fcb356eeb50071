"""Sizing mode ``auto``: the alert's quantity when it carries one, else percent of
equity; every order records how its size was reached."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from harness import master_box
from hypothesis import given
from hypothesis import strategies as st

from contracts.orders import OrderRequest, Sizing
from libs.registry.models import Strategy
from libs.registry.store import Registry
from services.risk.rules import decide_order
from services.risk.sizing import SizingError, size_entry
from tests.factories import SECRET, make_signal, make_snapshot, make_strategy

COID = "gold-breakout-1714573800-0f1e2d3c"
AUTO = make_strategy(sizing_mode="auto")


def test_new_strategies_size_auto_and_stored_ones_keep_their_mode() -> None:
    fresh = Strategy(id="s", tenant_id="t", account_id="a", name="S", slug="s", secret=SECRET)
    assert fresh.sizing_mode == "auto"
    registry = Registry(None, master_box())  # type: ignore[arg-type] # no KV needed
    stored = registry.stored_form(make_strategy(sizing_mode="percent_equity"))
    assert registry.from_stored_form(stored, Strategy).sizing_mode == "percent_equity"


def test_auto_buys_what_the_alert_says() -> None:
    sizing = size_entry(make_signal(quantity=D(7)), AUTO, D(100_000), D(150))
    assert sizing == Sizing(mode="auto", basis="alert_quantity", quantity=D(7),
                            detail="the alert's quantity 7")


def test_auto_without_a_quantity_takes_the_percent_of_equity() -> None:
    sizing = size_entry(make_signal(quantity=None), AUTO, D(100_000), D(200))
    assert sizing == Sizing(mode="auto", basis="percent_equity", quantity=D(10),
                            detail="2 % of equity 100000 at 200")


def test_auto_rounds_the_alert_quantity_down_to_the_step() -> None:
    strategy = make_strategy(sizing_mode="auto", quantity_step=D(1))
    sizing = size_entry(make_signal(quantity=D("2.7")), strategy, D(100_000), D(150))
    assert (sizing.quantity, sizing.detail) == (
        D(2), "the alert's quantity 2.7, rounded down to step 1")
    with pytest.raises(SizingError) as caught:
        size_entry(make_signal(quantity=D("0.5")), strategy, D(100_000), D(150))
    assert caught.value.code == "size_zero"


@pytest.mark.parametrize(("fields", "basis", "quantity"), [
    ({"sizing_mode": "percent_equity"}, "percent_equity", D("13.3333")),
    ({"sizing_mode": "alert_contracts"}, "alert_quantity", D(7)),
    ({"sizing_mode": "fixed_quantity", "fixed_quantity": D(3)}, "fixed_quantity", D(3)),
    ({"sizing_mode": "notional", "notional": D(1500)}, "notional", D(10)),
])
def test_every_mode_names_its_basis(fields: dict[str, object], basis: str, quantity: D) -> None:
    sizing = size_entry(make_signal(quantity=D(7)), make_strategy(**fields), D(100_000), D(150))
    assert (sizing.mode, sizing.basis, sizing.quantity) == (fields["sizing_mode"], basis,
                                                            quantity)


@given(st.decimals(min_value=D("0.0001"), max_value=D(10_000), places=6))
def test_auto_never_buys_more_than_the_alert_asked_nor_a_step_less(asked: D) -> None:
    sizing = size_entry(make_signal(quantity=asked), AUTO, D(100_000), D(150))
    assert D(0) <= asked - sizing.quantity < AUTO.quantity_step
    assert sizing.basis == "alert_quantity"


def test_the_order_records_how_its_size_was_reached() -> None:
    result = decide_order(make_signal(quantity=D(4)), AUTO, make_snapshot(), COID)
    assert isinstance(result, OrderRequest)
    assert result.quantity == D(4)
    assert result.sizing == Sizing(mode="auto", basis="alert_quantity", quantity=D(4),
                                   detail="the alert's quantity 4")


def test_a_flip_sized_auto_opens_what_the_alert_says_after_closing() -> None:
    snapshot = make_snapshot(positions={"AAPL": D(-5)})
    result = decide_order(make_signal(quantity=D(4)), AUTO, snapshot, COID)
    assert isinstance(result, OrderRequest)
    assert (result.quantity, result.close_quantity) == (D(9), D(5))
    assert result.sizing is not None and result.sizing.quantity == D(4)
