"""Risk sizing and the per-order decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from contracts.orders import OrderRequest, Side, Sizing
from contracts.signals import Intent
from services.risk.rules import RiskRefusal, client_order_id, decide_order, order_prices
from services.risk.sizing import SizingError, entry_quantity, round_to_step
from tests.factories import NOW, SIGNAL_ID, make_signal, make_snapshot, make_strategy

COID = "gold-breakout-1714573800-0f1e2d3c"
TWO_PERCENT = Sizing(mode="percent_equity", basis="percent_equity", quantity=D("13.3333"),
                     detail="2 % of equity 100000 at 150, rounded down to step 0.0001")


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
        sizing=TWO_PERCENT,
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
    assert (result.limit_price, result.stop_price) == (D(149), None)


@pytest.mark.parametrize(
    ("intent", "held", "side"),
    [
        ("exit_long", D("3.5"), "sell"),
        ("exit_short", D(-2), "buy"),
        ("close", D(4), "sell"),
        ("close", D(-4), "buy"),
    ],
)
def test_exits_close_the_held_position(intent: Intent, held: D, side: Side) -> None:
    snapshot = make_snapshot(positions={"AAPL": held})
    # Sizing limits do not apply to exits: they only ever reduce risk.
    strategy = make_strategy(max_order_quantity=D("0.1"), max_order_notional=D(1))

    result = order(decide_order(make_signal(intent=intent, quantity=D(999)), strategy,
                                snapshot, COID))

    assert result == OrderRequest(
        client_order_id=COID, symbol="AAPL", side=side, quantity=abs(held), intent=intent,
        reference_price=D(150), close_position=True,
        # More than held: the whole position, never across zero.
        sizing=Sizing(mode="percent_equity", basis="alert_quantity", quantity=abs(held),
                      detail=f"the alert's quantity 999 of the position {abs(held)}: all of it"),
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


# --- flips and adds -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("intent", "held", "side"),
    [("enter_short", D(5), "sell"), ("enter_long", D(-5), "buy")],
)
def test_an_entry_against_the_position_is_one_flip_order(intent: Intent, held: D,
                                                         side: Side) -> None:
    snapshot = make_snapshot(positions={"AAPL": held})

    result = order(decide_order(make_signal(intent=intent), make_strategy(), snapshot, COID))

    assert result == OrderRequest(
        client_order_id=COID, symbol="AAPL", side=side, quantity=D("18.3333"),
        close_quantity=D(5), intent=intent, reference_price=D(150), sizing=TWO_PERCENT,
    )
    assert result.close_position is False


def test_a_notional_flip_from_short_to_long_has_no_notional() -> None:
    strategy = make_strategy(sizing_mode="notional", notional=D(1500))
    snapshot = make_snapshot(positions={"AAPL": D(-4)})

    result = order(decide_order(make_signal(), strategy, snapshot, COID))

    assert (result.side, result.quantity, result.close_quantity) == ("buy", D(14), D(4))
    assert result.notional is None


def test_a_notional_flip_from_long_to_short_has_no_notional() -> None:
    strategy = make_strategy(sizing_mode="notional", notional=D(1500))
    snapshot = make_snapshot(positions={"AAPL": D("2.5")})

    result = order(decide_order(make_signal(intent="enter_short"), strategy, snapshot, COID))

    assert (result.side, result.quantity, result.close_quantity) == ("sell", D("12.5"),
                                                                     D("2.5"))
    assert result.notional is None


@pytest.mark.parametrize(("intent", "held"), [("enter_long", D(5)), ("enter_short", D(-5))])
def test_an_entry_with_the_position_adds_to_it(intent: str, held: D) -> None:
    snapshot = make_snapshot(positions={"AAPL": held})

    result = order(decide_order(make_signal(intent=intent), make_strategy(), snapshot, COID))

    assert result.quantity == D("13.3333")
    assert result.close_quantity == 0


def test_a_position_in_another_symbol_is_not_flipped() -> None:
    snapshot = make_snapshot(positions={"TSLA": D(5)})

    result = order(decide_order(make_signal(intent="enter_short"), make_strategy(), snapshot,
                                COID))

    assert (result.quantity, result.close_quantity) == (D("13.3333"), D(0))


@pytest.mark.parametrize("held", [D(0), D(5)])
def test_notional_sizing_sends_the_notional_unless_flipping(held: D) -> None:
    strategy = make_strategy(sizing_mode="notional", notional=D(1500))
    snapshot = make_snapshot(positions={"AAPL": held} if held else {})

    result = order(decide_order(make_signal(), strategy, snapshot, COID))

    assert result.notional == D(1500)
    assert result.quantity == D(10)  # the estimate at the alert price
    assert result.close_quantity == 0


def test_percent_sizing_sends_no_notional() -> None:
    result = order(decide_order(make_signal(), make_strategy(notional=D(1500)),
                                make_snapshot(), COID))

    assert result.notional is None


# --- order type, prices, duration and protective legs ---------------------------------


def test_a_limit_price_is_the_alert_price_plus_the_tick_offset() -> None:
    strategy = make_strategy(order_type="limit", limit_offset_ticks=2)

    result = order(decide_order(make_signal(), strategy, make_snapshot(), COID))

    assert result.order_type == "limit"
    assert (result.limit_price, result.stop_price) == (D("150.02"), None)
    assert result.quantity == D("13.3333")


def test_a_stop_price_moves_down_with_a_negative_offset() -> None:
    strategy = make_strategy(order_type="stop", limit_offset_ticks=-3, tick_size=D("0.25"))

    result = order(decide_order(make_signal(intent="enter_short"), strategy,
                                make_snapshot(), COID))

    assert result.order_type == "stop"
    assert (result.limit_price, result.stop_price) == (None, D("149.25"))


def test_the_signal_order_type_wins_over_the_strategy_one() -> None:
    strategy = make_strategy(order_type="stop", limit_offset_ticks=1)

    result = order(decide_order(make_signal(order_type="limit"), strategy, make_snapshot(),
                                COID))

    assert result.order_type == "limit"
    assert (result.limit_price, result.stop_price) == (D("150.01"), None)


def test_a_market_strategy_ignores_the_tick_offset() -> None:
    strategy = make_strategy(limit_offset_ticks=5)

    result = order(decide_order(make_signal(), strategy, make_snapshot(), COID))

    assert result.order_type == "market"
    assert (result.limit_price, result.stop_price) == (None, None)


def test_without_the_alert_price_option_the_last_price_is_used() -> None:
    strategy = make_strategy(order_type="limit", use_strategy_order_price=False,
                             limit_offset_ticks=2)
    snapshot = make_snapshot(last_prices={"AAPL": D(148)})

    result = order(decide_order(make_signal(), strategy, snapshot, COID))

    assert result.limit_price == D("148.02")
    assert result.reference_price == D(150)
    assert result.quantity == D("13.3333")  # sized at the alert price


def test_a_signal_without_price_uses_the_last_price_for_the_limit() -> None:
    strategy = make_strategy(order_type="limit")
    snapshot = make_snapshot(last_prices={"AAPL": D(200)})

    result = order(decide_order(make_signal(price=None), strategy, snapshot, COID))

    assert result.limit_price == D(200)


def test_a_limit_order_without_a_last_price_is_refused() -> None:
    strategy = make_strategy(order_type="limit", use_strategy_order_price=False)
    snapshot = make_snapshot(last_prices={"TSLA": D(200)})

    result = refusal(decide_order(make_signal(), strategy, snapshot, COID))

    assert result.code == "no_price"
    assert result.reason == "a limit order needs a price for AAPL"


def test_an_offset_below_zero_is_refused() -> None:
    strategy = make_strategy(order_type="limit", limit_offset_ticks=-2)

    result = refusal(decide_order(make_signal(price=D("0.02")), strategy, make_snapshot(),
                                  COID))

    assert result.code == "bad_price"


@pytest.mark.parametrize(
    ("kind", "last", "expected"),
    [
        ("market", D(100), (None, None)),
        ("limit", D(100), (D("150.02"), None)),
        ("stop", None, (None, D("150.02"))),
    ],
)
def test_order_prices(kind: str, last: D | None, expected: tuple[D | None, D | None]) -> None:
    strategy = make_strategy(limit_offset_ticks=2)

    assert order_prices(make_signal(), strategy, kind, last) == expected  # type: ignore[arg-type]


def test_order_prices_without_any_price_is_no_price() -> None:
    result = order_prices(make_signal(price=None), make_strategy(), "stop", None)

    assert isinstance(result, RiskRefusal)
    assert result.code == "no_price"


def test_duration_and_protective_prices_pass_through() -> None:
    strategy = make_strategy(time_in_force="gtc")
    signal = make_signal(take_profit=D(160), stop_loss=D(140))

    result = order(decide_order(signal, strategy, make_snapshot(), COID))

    assert result.time_in_force == "gtc"
    assert (result.take_profit_price, result.stop_loss_price) == (D(160), D(140))


def test_exits_stay_market_close_orders_whatever_the_strategy() -> None:
    strategy = make_strategy(order_type="limit", limit_offset_ticks=5, time_in_force="gtc",
                             sizing_mode="notional", notional=D(1500))
    snapshot = make_snapshot(positions={"AAPL": D(3)}, last_prices={"AAPL": D(151)})
    signal = make_signal(intent="exit_long", order_type="limit", take_profit=D(160))

    result = order(decide_order(signal, strategy, snapshot, COID))

    assert result == OrderRequest(
        client_order_id=COID, symbol="AAPL", side="sell", quantity=D(3), intent="exit_long",
        reference_price=D(150), close_position=True, time_in_force="gtc",
        sizing=Sizing(mode="notional", basis="position", quantity=D(3),
                      detail="the whole position"),
    )
    assert result.order_type == "market"
    assert (result.limit_price, result.stop_price, result.notional) == (None, None, None)
    assert result.close_quantity == 0


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
