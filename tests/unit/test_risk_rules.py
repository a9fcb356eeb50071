"""Risk sizing and the per-order decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from contracts.orders import OrderRequest
from services.risk.rules import RiskRefusal, client_order_id, decide_order
from services.risk.sizing import SizingError, entry_quantity, round_to_step
from tests.factories import NOW, SIGNAL_ID, make_signal, make_snapshot, make_strategy

COID = "gold-breakout-1714573800-0f1e2d3c"


def order(result: OrderRequest | RiskRefusal) -> OrderRequest:
    assert isinstance(result, OrderRequest), result
    return result


def refusal(result: OrderRequest | RiskRefusal) -> RiskRefusal:
    assert isinstance(result, RiskRefusal), result
    return result


# --- round_to_step / entry_quantity -------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "step", "expected"),
    [
        (D("13.33333333"), D("0.0001"), D("13.3333")),
        (D("1.999"), D("0.01"), D("1.99")),
        (D("7.9"), D(1), D(7)),
        (D("12"), D(5), D(10)),
        (D("0.75"), D("0.25"), D("0.75")),
        (D("0.0099"), D("0.01"), D(0)),
        (D("1.23456"), D(0), D("1.23456")),
        (D("1.23456"), D(-1), D("1.23456")),
    ],
)
def test_round_to_step_rounds_down(quantity: D, step: D, expected: D) -> None:
    assert round_to_step(quantity, step) == expected


def test_percent_of_equity_defaults_to_two_percent() -> None:
    strategy = make_strategy()
    assert strategy.percent_of_equity == D(2)

    quantity = entry_quantity(make_signal(), strategy, D(100_000), D(150))

    assert quantity == D("13.3333")  # 2 000 / 150 rounded down to 0.0001


def test_percent_of_equity_uses_the_configured_percent_and_step() -> None:
    strategy = make_strategy(percent_of_equity=D(10), quantity_step=D(1))

    assert entry_quantity(make_signal(), strategy, D(50_000), D(333)) == D(15)


def test_alert_contracts_uses_the_alert_quantity() -> None:
    strategy = make_strategy(sizing_mode="alert_contracts")

    quantity = entry_quantity(make_signal(quantity=D("3.14159")), strategy, D(1), D(150))

    assert quantity == D("3.1415")


def test_alert_contracts_without_a_quantity_is_an_error() -> None:
    with pytest.raises(SizingError) as caught:
        entry_quantity(make_signal(quantity=None), make_strategy(sizing_mode="alert_contracts"),
                       D(1000), D(1))
    assert caught.value.code == "missing_quantity"


def test_fixed_quantity_ignores_equity_and_alert() -> None:
    strategy = make_strategy(sizing_mode="fixed_quantity", fixed_quantity=D(7))

    assert entry_quantity(make_signal(quantity=D(99)), strategy, D(1), D(1000)) == D(7)


def test_notional_divides_by_price() -> None:
    strategy = make_strategy(sizing_mode="notional", notional=D(1000))

    assert entry_quantity(make_signal(), strategy, D(1), D(300)) == D("3.3333")


@pytest.mark.parametrize("mode", ["fixed_quantity", "notional"])
def test_modes_without_their_amount_are_misconfigured(mode: str) -> None:
    with pytest.raises(SizingError) as caught:
        entry_quantity(make_signal(), make_strategy(sizing_mode=mode), D(1000), D(1))
    assert caught.value.code == "misconfigured"


def test_size_rounding_to_zero_is_an_error() -> None:
    strategy = make_strategy(quantity_step=D(1))

    with pytest.raises(SizingError) as caught:
        entry_quantity(make_signal(), strategy, D(1000), D(150))  # 20 / 150 = 0.13

    assert caught.value.code == "size_zero"
    assert "0.13333333" in caught.value.reason
    assert "step 1" in caught.value.reason


# --- decide_order ---------------------------------------------------------------------


def test_long_entry_becomes_a_market_buy() -> None:
    result = order(decide_order(make_signal(), make_strategy(), make_snapshot(), COID))

    assert result == OrderRequest(
        client_order_id=COID, symbol="AAPL", side="buy", quantity=D("13.3333"),
        intent="enter_long", order_type="market", reference_price=D(150),
    )
    assert result.close_position is False


@pytest.mark.parametrize(
    ("intent", "side"),
    [("enter_long", "buy"), ("buy", "buy"), ("enter_short", "sell"), ("sell", "sell")],
)
def test_entry_side_follows_the_intent(intent: str, side: str) -> None:
    result = order(decide_order(make_signal(intent=intent), make_strategy(), make_snapshot(),
                                COID))

    assert result.side == side
    assert result.intent == intent


def test_last_price_sizes_a_signal_without_price() -> None:
    snapshot = make_snapshot(last_prices={"AAPL": D(200)})

    result = order(decide_order(make_signal(price=None), make_strategy(), snapshot, COID))

    assert result.quantity == D(10)
    assert result.reference_price is None


def test_no_price_is_refused() -> None:
    snapshot = make_snapshot(last_prices={"TSLA": D(200)})

    result = refusal(decide_order(make_signal(price=None), make_strategy(), snapshot, COID))

    assert result.code == "no_price"
    assert "AAPL" in result.reason


def test_sizing_errors_become_refusals() -> None:
    strategy = make_strategy(sizing_mode="alert_contracts")

    result = refusal(decide_order(make_signal(quantity=None), strategy, make_snapshot(), COID))

    assert result.code == "missing_quantity"
    assert result.details == {}


def test_size_zero_is_refused() -> None:
    result = refusal(decide_order(make_signal(price=D(1_000_000)), make_strategy(),
                                  make_snapshot(equity=D(100)), COID))

    assert result.code == "size_zero"


def test_max_order_quantity_refusal_names_rule_limit_and_value() -> None:
    strategy = make_strategy(sizing_mode="fixed_quantity", fixed_quantity=D(11),
                             max_order_quantity=D(10))

    result = refusal(decide_order(make_signal(), strategy, make_snapshot(), COID))

    assert result.code == "max_order_quantity"
    assert result.details == {"rule": "max_order_quantity", "limit": "10", "value": "11"}


def test_order_at_max_order_quantity_is_allowed() -> None:
    strategy = make_strategy(sizing_mode="fixed_quantity", fixed_quantity=D(10),
                             max_order_quantity=D(10))

    assert order(decide_order(make_signal(), strategy, make_snapshot(), COID)).quantity == D(10)


def test_max_order_notional_refusal_names_rule_limit_and_value() -> None:
    strategy = make_strategy(sizing_mode="fixed_quantity", fixed_quantity=D(400))

    result = refusal(decide_order(make_signal(price=D("150.5")), strategy, make_snapshot(),
                                  COID))

    assert result.code == "max_order_notional"  # default limit 50 000
    assert result.details == {"rule": "max_order_notional", "limit": "50000",
                              "value": "60200.00"}


def test_order_at_max_order_notional_is_allowed_and_none_disables_it() -> None:
    at_limit = make_strategy(sizing_mode="notional", notional=D(1000),
                             max_order_notional=D(1000), quantity_step=D(1))
    unlimited = make_strategy(sizing_mode="fixed_quantity", fixed_quantity=D(10_000),
                              max_order_notional=None)

    assert order(decide_order(make_signal(price=D(100)), at_limit, make_snapshot(),
                              COID)).quantity == D(10)
    assert order(decide_order(make_signal(), unlimited, make_snapshot(),
                              COID)).quantity == D(10_000)


def test_quantity_limit_is_checked_before_notional() -> None:
    strategy = make_strategy(sizing_mode="fixed_quantity", fixed_quantity=D(1000),
                             max_order_quantity=D(5))

    assert refusal(decide_order(make_signal(), strategy, make_snapshot(),
                                COID)).code == "max_order_quantity"


def test_order_type_and_reference_price_pass_through() -> None:
    result = order(decide_order(make_signal(order_type="limit", price=D(149)), make_strategy(),
                                make_snapshot(), COID))

    assert result.order_type == "limit"
    assert result.reference_price == D(149)


@pytest.mark.parametrize(
    ("intent", "held", "side"),
    [
        ("exit_long", D("3.5"), "sell"),
        ("exit_short", D(-2), "buy"),
        ("close", D(4), "sell"),
        ("close", D(-4), "buy"),
    ],
)
def test_exits_close_the_held_position(intent: str, held: D, side: str) -> None:
    snapshot = make_snapshot(positions={"AAPL": held})
    # Sizing limits do not apply to exits: they only ever reduce risk.
    strategy = make_strategy(max_order_quantity=D("0.1"), max_order_notional=D(1))

    result = order(decide_order(make_signal(intent=intent, quantity=D(999)), strategy,
                                snapshot, COID))

    assert result == OrderRequest(
        client_order_id=COID, symbol="AAPL", side=side, quantity=abs(held), intent=intent,
        reference_price=D(150), close_position=True,
    )


def test_exit_without_price_still_closes() -> None:
    snapshot = make_snapshot(positions={"AAPL": D(1)})

    result = order(decide_order(make_signal(intent="exit_long", price=None), make_strategy(),
                                snapshot, COID))

    assert result.close_position is True
    assert result.reference_price is None


@pytest.mark.parametrize(
    ("intent", "held", "wanted"),
    [
        ("exit_long", D(0), "long"),
        ("exit_long", D(-1), "long"),
        ("exit_short", D(0), "short"),
        ("exit_short", D(1), "short"),
        ("close", D(0), "open"),
    ],
)
def test_exits_without_a_matching_position_are_refused(intent: str, held: D,
                                                       wanted: str) -> None:
    snapshot = make_snapshot(positions={"AAPL": held} if held else {"TSLA": D(5)})

    result = refusal(decide_order(make_signal(intent=intent), make_strategy(), snapshot, COID))

    assert result.code == "no_position"
    assert result.reason == f"no {wanted} position in AAPL to close"
    assert result.details == {"position": str(held)}


# --- client_order_id ------------------------------------------------------------------


def test_client_order_id_is_slug_unix_seconds_and_short_signal_id() -> None:
    received = datetime(2024, 5, 1, 14, 30, 0, 999_000, tzinfo=UTC)

    coid = client_order_id(make_strategy(), SIGNAL_ID, received)

    assert coid == "gold-breakout-1714573800-0f1e2d3c"


def test_client_order_id_is_deterministic_and_timezone_independent() -> None:
    strategy = make_strategy(slug="bot")
    same_instant = NOW.astimezone(timezone(timedelta(hours=2)))

    first = client_order_id(strategy, SIGNAL_ID, NOW)

    assert first == client_order_id(strategy, SIGNAL_ID, same_instant)
    assert first == "bot-1714573800-0f1e2d3c"


def test_client_order_id_skips_dashes_of_short_ids() -> None:
    coid = client_order_id(make_strategy(slug="s"), "ab-cd-ef-12-34-56", NOW)

    assert coid == "s-1714573800-abcdef12"
