"""Declared broker capabilities: what the validator refuses and where the SL/TP
monitor relies on native bracket/OCO legs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from contracts.orders import Fill, OrderRequest
from libs.brokers.capabilities import (
    ALPACA,
    DECLARED,
    PAPER,
    Capabilities,
    capabilities_for,
    capabilities_of,
)
from services.risk.ledger import RiskLedger
from services.risk.limits import Exposure, check_limits
from services.risk.rules import RiskRefusal, decide_order
from services.sltp_monitor.legs import bracket_at_broker, legs_for_fill
from services.validator.rules import Refusal, check_broker_rules
from tests.factories import make_account, make_order, make_signal, make_snapshot, make_strategy

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def entry(symbol: str, quantity: str, **fields: object) -> OrderRequest:
    prices = {"stop_loss_price": D(90), "take_profit_price": D(120), **fields}
    return OrderRequest(client_order_id="bot-1-abc", symbol=symbol, side="buy",
                        quantity=D(quantity), intent="enter_long", reference_price=D(100),
                        **prices)  # type: ignore[arg-type]


def filled(symbol: str, quantity: str) -> Fill:
    return Fill(order_id="o", client_order_id="bot-1-abc", symbol=symbol, side="buy",
                quantity=D(quantity), average_price=D(100), filled_at=NOW,
                position_quantity=D(quantity))


@pytest.mark.parametrize(("symbol", "quantity", "notional", "native"), [
    ("AAPL", "10", None, True),          # whole shares: a bracket at Alpaca
    ("AAPL", "2.5", None, False),        # fractional: Alpaca takes it simple
    ("AAPL", "10", D(1000), False),      # notional: simple too
    ("BTC/USD", "1", None, False),       # crypto: simple only
])
def test_alpaca_brackets_only_what_it_takes_as_a_bracket(
        symbol: str, quantity: str, notional: D | None, native: bool) -> None:
    request = entry(symbol, quantity, notional=notional)
    assert bracket_at_broker(request, "alpaca") is native
    assert bracket_at_broker(request, ALPACA) is native


def test_entries_alpaca_takes_simple_get_the_monitors_legs() -> None:
    strategy = make_strategy()
    legs = legs_for_fill(entry("BTC/USD", "1"), filled("BTC/USD", "1"), strategy, "alpaca",
                         D(1))
    assert [(leg.leg, leg.order_type) for leg in legs] == [("sl", "stop"), ("tp", "limit")]
    shares = legs_for_fill(entry("AAPL", "3.5"), filled("AAPL", "3.5"), strategy, "alpaca",
                           D("3.5"))
    assert [leg.leg for leg in shares] == ["sl", "tp"]


def test_a_broker_with_native_oco_gets_one_leg_carrying_both_prices() -> None:
    strategy = make_strategy(attach_sl_tp=True, sl_pct=D(10), tp_pct=D(20))
    plain = entry("AAPL", "10", stop_loss_price=None, take_profit_price=None)
    (leg,) = legs_for_fill(plain, filled("AAPL", "10"), strategy, "alpaca", D(10))
    assert (leg.leg, leg.stop_loss_price, leg.take_profit_price) == ("tp", D(90), D(120))
    # The paper broker declares no native OCO: two legs of one OCO group.
    legs = legs_for_fill(plain, filled("AAPL", "10"), strategy, "paper", D(10))
    assert [(leg.leg, leg.oco_group) for leg in legs] == [("sl", "bot-1-abc"),
                                                          ("tp", "bot-1-abc")]


def test_an_unknown_broker_can_do_nothing() -> None:
    nothing = capabilities_of("no-such-broker")
    assert nothing.asset_classes == frozenset()
    refusal = check_broker_rules(make_signal(), "no-such-broker")
    assert refusal is not None and refusal.code == "asset_not_supported"


def test_declarations_may_depend_on_the_account() -> None:
    perps = Capabilities(asset_classes=frozenset({"crypto"}), venue="Perps",
                         shorting=frozenset({"crypto"}))
    DECLARED["perps-test"] = lambda account: perps
    try:
        assert capabilities_for(make_account(broker="paper")) is PAPER
        assert capabilities_of("perps-test", make_account()) is perps
        with pytest.raises(ValueError, match="depend on the account"):
            capabilities_of("perps-test")
        short = make_signal(symbol="BTC/USDT", asset_class="crypto", intent="enter_short")
        assert check_broker_rules(short, "perps-test", account=make_account()) is None
    finally:
        del DECLARED["perps-test"]


def test_a_declared_venue_without_shorts_or_stops_says_so() -> None:
    spot = Capabilities(asset_classes=frozenset({"crypto", "equity"}), venue="Spot")
    DECLARED["spot-test"] = spot
    try:
        short = make_signal(intent="enter_short")
        stop = make_signal(symbol="BTC/USDT", asset_class="crypto", order_type="stop")
        assert check_broker_rules(short, "spot-test") == Refusal(
            "no_shorts", "Spot cannot short equity (AAPL)")
        assert check_broker_rules(stop, "spot-test") == Refusal(
            "unsupported_order_type",
            "Spot has no stop orders for crypto; use a market or limit order")
    finally:
        del DECLARED["spot-test"]


def test_a_trailing_stop_strategy_is_refused_where_the_broker_cannot_trail() -> None:
    trailing = make_strategy(attach_sl_tp=True, sl_pct=D(2), trailing_stop_pct=D(1))
    refusal = check_broker_rules(make_signal(), "alpaca", strategy=trailing)
    assert refusal == Refusal("unsupported_trailing_stop", "Alpaca has no trailing stops for "
                              "equity: clear the strategy's trailing_stop_pct")
    assert check_broker_rules(make_signal(), "paper", strategy=trailing) is None
    # Exits take risk off: they pass.
    assert check_broker_rules(make_signal(intent="exit_long"), "alpaca",
                              strategy=trailing) is None


# -- risk: sizes the broker takes ----------------------------------------------------

WHOLE_ONLY = Capabilities(asset_classes=frozenset({"equity"}), venue="Wholesale")


def test_a_broker_without_fractions_gets_whole_units_rounded_down() -> None:
    # 2 % of 100 000 at 150 is 13.33 shares: 13 at a whole-units broker.
    order = decide_order(make_signal(), make_strategy(), make_snapshot(), "c-1", WHOLE_ONLY)
    assert isinstance(order, OrderRequest)
    assert order.quantity == 13
    assert order.sizing is not None and "whole units (Wholesale)" in order.sizing.detail
    # Without a declaration the size stays as sized.
    sized = decide_order(make_signal(), make_strategy(), make_snapshot(), "c-1")
    assert isinstance(sized, OrderRequest) and sized.quantity != 13


def test_an_alert_asking_for_a_fraction_is_refused_where_fractions_are_not_taken() -> None:
    refused = decide_order(make_signal(quantity=D("2.5")), make_strategy(sizing_mode="auto"),
                           make_snapshot(), "c-1", WHOLE_ONLY)
    assert refused == RiskRefusal(
        "fractional_not_supported",
        "Wholesale trades whole equity units only; the order size 2.5 is a fraction",
        {"rule": "fractional", "value": "2.5"})
    tiny = decide_order(make_signal(price=D(100_000)), make_strategy(), make_snapshot(),
                        "c-1", WHOLE_ONLY)
    assert isinstance(tiny, RiskRefusal) and tiny.code == "fractional_not_supported"


def test_alpaca_takes_fractional_equity_as_market_orders_only() -> None:
    limit = make_strategy(order_type="limit", sizing_mode="auto")
    refused = decide_order(make_signal(quantity=D("2.5")), limit, make_snapshot(), "c-1",
                           ALPACA)
    assert isinstance(refused, RiskRefusal) and refused.code == "fractional_not_market"
    assert "Alpaca takes fractional equity orders as market orders only" in refused.reason
    whole = decide_order(make_signal(quantity=D(3)), limit, make_snapshot(), "c-1", ALPACA)
    assert isinstance(whole, OrderRequest) and whole.order_type == "limit"
    market = decide_order(make_signal(quantity=D("2.5")), make_strategy(sizing_mode="auto"),
                          make_snapshot(), "c-1", ALPACA)
    assert isinstance(market, OrderRequest) and market.quantity == D("2.5")
    crypto = decide_order(make_signal(symbol="BTC/USD", asset_class="crypto",
                                      quantity=D("0.01")), limit, make_snapshot(), "c-1",
                          ALPACA)
    assert isinstance(crypto, OrderRequest)  # crypto fractions rest as limits at Alpaca


# -- risk: the venue's own limits ------------------------------------------------------

PERPS = Capabilities(asset_classes=frozenset({"crypto", "equity"}), venue="Perps",
                     shorting=frozenset({"crypto", "equity"}), leverage=True,
                     max_leverage=D(3))


def limits(order: OrderRequest, can: Capabilities, **snapshot: object) -> RiskRefusal | None:
    ledger = RiskLedger()
    return check_limits(make_signal(), order, make_strategy(max_order_notional=None),
                        Exposure.of(make_snapshot(**snapshot), ledger), ledger, D(100), can)


def test_new_exposure_stays_within_the_venues_declared_leverage() -> None:
    # 100 000 equity, 2 500 units at 100: 2.5x, within 3x.
    assert limits(make_order(quantity=D(2_500)), PERPS) is None
    refused = limits(make_order(quantity=D(3_500)), PERPS)
    assert refused == RiskRefusal(
        "venue_max_leverage", "gross exposure would be 3.50x equity; Perps's maximum is 3x",
        {"rule": "venue_max_leverage", "limit": "3", "value": "3.50"})
    # A venue that declares no maximum (Alpaca, paper) decides itself.
    assert limits(make_order(quantity=D(3_500)), ALPACA) is None
    # Exits take exposure off: they pass.
    held = {"positions": {"AAPL": D(3_500)}, "last_prices": {"AAPL": D(100)}}
    assert limits(make_order(quantity=D(3_500), side="sell", intent="exit_long",
                             close_position=True), PERPS, **held) is None


def test_a_partial_exit_needs_reduce_only_exits_at_the_venue() -> None:
    partial = make_order(side="sell", intent="exit_long", reduce_only=True, quantity=D(5))
    loose = Capabilities(asset_classes=frozenset({"equity"}), venue="Loose",
                         reduce_only=False)
    refused = limits(partial, loose)
    assert refused is not None and refused.code == "reduce_only"
    assert refused.reason == ("Loose cannot keep a partial exit from crossing zero; close the "
                              "whole position instead")
    assert limits(partial, ALPACA) is None


def test_an_entry_whose_stop_loss_leg_the_broker_cannot_hold_is_refused() -> None:
    crypto = make_signal(symbol="BTC/USD", asset_class="crypto", stop_loss=D(50_000))
    refused = check_broker_rules(crypto, "alpaca")
    assert refused is not None and refused.code == "unsupported_stop_loss"
    assert refused.reason.startswith("Alpaca has no stop orders for crypto")
    legs = make_strategy(attach_sl_tp=True, sl_pct=D(2))
    plain = make_signal(symbol="BTC/USD", asset_class="crypto")
    assert check_broker_rules(plain, "alpaca") is None
    assert check_broker_rules(plain, "alpaca", strategy=legs) is not None
    # Equities at Alpaca hold stops; the paper broker holds them everywhere; exits pass.
    assert check_broker_rules(make_signal(stop_loss=D(140)), "alpaca", strategy=legs) is None
    assert check_broker_rules(crypto, "paper", strategy=legs) is None
    assert check_broker_rules(make_signal(symbol="BTC/USD", asset_class="crypto",
                                          intent="exit_long"), "alpaca", strategy=legs) is None
