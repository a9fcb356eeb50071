"""Validator decisions: alert to signal, route checks, broker rules."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from contracts.dialects import parse_alert
from contracts.signals import Signal
from services.validator.rules import (
    Refusal,
    build_signal,
    check_alert_targets,
    check_broker_rules,
    check_route,
)
from tests.factories import TENANT_ID, make_account, make_signal, make_strategy


def signal_of(payload: dict[str, object], broker: str = "paper") -> Signal:
    result = build_signal(parse_alert(payload), broker)
    assert isinstance(result, Signal), result
    return result


def test_tradingview_entry_becomes_a_signal() -> None:
    signal = signal_of({
        "symbol": "BINANCE:BTCUSDT", "strategy_order_id": "long",
        "strategy_order_action": "buy", "strategy_order_contracts": "0.5",
        "strategy_order_price": "65000", "strategy_order_comment": "go",
        "time": "2024-05-01T14:30:00Z", "note": "kept",
    })

    assert signal == Signal(
        dialect="tradingview", symbol="BTC/USDT", asset_class="crypto", intent="enter_long",
        quantity=D("0.5"), price=D(65000), comment="go",
        alert_time=datetime(2024, 5, 1, 14, 30, tzinfo=UTC), metadata={"note": "kept"},
    )


def test_tradingview_short_exit_keeps_the_trade_type() -> None:
    signal = signal_of({
        "symbol": "NASDAQ:AAPL", "strategy_order_id": "sell",
        "strategy_order_action": "buy", "strategy_order_contracts": "{{x}}",
    })

    assert signal.intent == "exit_short"
    assert signal.is_exit
    assert signal.symbol == "AAPL"
    assert signal.asset_class == "equity"
    assert signal.quantity is None


def test_exchange_alert_keeps_stops_order_type_and_alert_id() -> None:
    signal = signal_of({
        "alertId": "a-1", "action": "sell", "symbol": "EUR_USD", "price": "1.085",
        "quantity": 1000, "orderType": "limit", "stopLoss": "1.09", "takeProfit": "1.07",
        "timestamp": 1714573800,
    })

    assert signal.dialect == "exchange"
    assert signal.symbol == "EUR/USD"
    assert signal.asset_class == "forex"
    assert signal.intent == "sell"
    assert signal.order_type == "limit"
    assert (signal.stop_loss, signal.take_profit) == (D("1.09"), D("1.07"))
    assert signal.alert_id == "a-1"
    assert signal.alert_time == datetime(2024, 5, 1, 14, 30, tzinfo=UTC)


def test_propfirm_signal_id_becomes_alert_id_and_credentials_stay_out() -> None:
    signal = signal_of({
        "tenantId": "t", "accountId": "a", "symbol": "brk.b", "action": "close",
        "signalId": "sig-7", "token": "whsec_secret", "desk": "ny",
    })

    assert signal.intent == "close"
    assert signal.symbol == "BRK.B"
    assert signal.alert_id == "sig-7"
    assert signal.metadata == {"desk": "ny"}


def test_routed_alert_without_symbol_is_refused() -> None:
    result = build_signal(parse_alert({"strategy": "Gold", "signal": "BUY"}), "paper")

    assert result == Refusal(
        "missing_symbol", "the alert names no symbol and the strategy has no default symbol")


def test_routed_alert_takes_the_strategy_symbol_and_keeps_confidence() -> None:
    alert = parse_alert({"strategy": "Gold", "signal": "BUY", "confidence": 0.82})

    signal = build_signal(alert, "alpaca", default_symbol="GLD")

    assert isinstance(signal, Signal)
    assert (signal.symbol, signal.intent, signal.asset_class) == ("GLD", "buy", "equity")
    assert signal.metadata == {"confidence": 0.82}


def test_routed_alert_for_another_strategy_is_refused() -> None:
    alert = parse_alert({"strategy": "Other", "signal": "BUY"})

    refusal = check_alert_targets(alert, make_account(), make_strategy(name="Gold"))

    assert refusal is not None and refusal.code == "strategy_mismatch"


def test_metadata_is_a_copy_of_the_extras() -> None:
    alert = parse_alert({"strategy": "Gold", "signal": "buy", "symbol": "XAUUSD", "x": 1})

    signal = build_signal(alert, "paper")

    assert isinstance(signal, Signal)
    assert signal.asset_class == "unknown"
    assert signal.metadata == {"x": 1}
    assert signal.metadata is not alert.extras


def test_route_is_accepted_for_the_owning_tenant() -> None:
    assert check_route(make_strategy(), make_account(), TENANT_ID) is None


@pytest.mark.parametrize(
    ("strategy", "account", "code"),
    [
        (None, make_account(), "unknown_strategy"),
        (make_strategy(tenant_id="other"), make_account(), "tenant_mismatch"),
        (make_strategy(enabled=False), make_account(), "strategy_disabled"),
        (make_strategy(), None, "unknown_account"),
        (make_strategy(), make_account(tenant_id="other"), "tenant_mismatch"),
        (make_strategy(), make_account(active=False), "account_inactive"),
    ],
)
def test_route_refusals(strategy: object, account: object, code: str) -> None:
    result = check_route(strategy, account, TENANT_ID)  # type: ignore[arg-type]

    assert isinstance(result, Refusal)
    assert result.code == code


def test_route_refusal_messages_name_the_object() -> None:
    disabled = check_route(make_strategy(enabled=False, name="Gold"), make_account(), TENANT_ID)
    inactive = check_route(make_strategy(), make_account(active=False, name="Main"), TENANT_ID)

    assert disabled == Refusal("strategy_disabled", "strategy Gold is disabled")
    assert inactive == Refusal("account_inactive", "account Main is not active")


def test_tenant_is_checked_before_enabled() -> None:
    result = check_route(make_strategy(tenant_id="other", enabled=False), None, TENANT_ID)

    assert result is not None
    assert result.code == "tenant_mismatch"


@pytest.mark.parametrize("kind", ["market", "limit", "stop"])
@pytest.mark.parametrize(
    ("symbol", "asset_class", "intent"),
    [("AAPL", "equity", "enter_long"), ("BTC/USD", "crypto", "enter_short"),
     ("EUR/USD", "forex", "sell"), ("XAUUSD", "unknown", "enter_long")],
)
def test_paper_broker_takes_every_order_type_and_asset(kind: str, symbol: str,
                                                       asset_class: str, intent: str) -> None:
    signal = make_signal(symbol=symbol, asset_class=asset_class, intent=intent,
                         order_type=kind)

    assert check_broker_rules(signal, "paper") is None


@pytest.mark.parametrize(
    ("signal", "code"),
    [
        (make_signal(symbol="EUR/USD", asset_class="forex"), "asset_not_supported"),
        (make_signal(symbol="EUR/USD", asset_class="forex", order_type="stop"),
         "asset_not_supported"),
        (make_signal(symbol="XAUUSD", asset_class="unknown"), "asset_not_supported"),
        (make_signal(symbol="BTC/USD", asset_class="crypto", intent="enter_short"),
         "no_crypto_shorts"),
        (make_signal(symbol="BTC/USD", asset_class="crypto", order_type="stop"),
         "unsupported_order_type"),
    ],
    ids=["forex", "forex-stop", "unknown", "crypto-short", "crypto-stop"],
)
def test_alpaca_refusals(signal: Signal, code: str) -> None:
    result = check_broker_rules(signal, "alpaca")

    assert result is not None
    assert result.code == code
    assert result.reason


def test_alpaca_refusals_name_the_symbol() -> None:
    forex = check_broker_rules(make_signal(symbol="EUR/USD", asset_class="forex"), "alpaca")
    short = check_broker_rules(make_signal(symbol="ETH/USD", asset_class="crypto",
                                           intent="enter_short"), "alpaca")

    assert forex == Refusal("asset_not_supported", "Alpaca does not trade forex (EUR/USD)")
    assert short == Refusal("no_crypto_shorts", "Alpaca cannot short crypto (ETH/USD)")


@pytest.mark.parametrize(
    "signal",
    [
        make_signal(),
        make_signal(order_type="limit"),
        make_signal(order_type="stop"),
        make_signal(intent="enter_short", order_type="stop"),
        make_signal(symbol="BRK.B", intent="exit_short"),
        make_signal(symbol="BTC/USD", asset_class="crypto"),
        make_signal(symbol="BTC/USD", asset_class="crypto", order_type="limit"),
        make_signal(symbol="BTC/USD", asset_class="crypto", intent="exit_long"),
    ],
    ids=["equity", "equity-limit", "equity-stop", "equity-short-stop", "equity-exit",
         "crypto", "crypto-limit", "crypto-exit"],
)
def test_alpaca_takes_equities_and_crypto_it_supports(signal: Signal) -> None:
    assert check_broker_rules(signal, "alpaca") is None


def test_an_account_sweep_names_no_symbol_and_passes_broker_rules() -> None:
    signal = signal_of({"action": "close_all", "token": "x"}, broker="alpaca")
    assert (signal.intent, signal.scope, signal.symbol) == ("close_all", "account", "")
    assert check_broker_rules(signal, "alpaca") is None


def test_a_symbol_sweep_is_normalised_like_any_symbol() -> None:
    signal = signal_of({"action": "cancel_all", "symbol": "BINANCE:BTCUSDT"})
    assert (signal.intent, signal.scope, signal.symbol) == ("cancel_all", "symbol", "BTC/USDT")
    # Closing a crypto position at Alpaca takes no risk on, so no crypto rule applies.
    assert check_broker_rules(signal, "alpaca", "stop") is None


def test_a_routed_sweep_of_scope_symbol_uses_the_strategys_symbol() -> None:
    built = build_signal(parse_alert({"strategy": "Gold", "signal": "close_all",
                                      "scope": "symbol"}), "paper", "GLD")
    assert isinstance(built, Signal)
    assert (built.scope, built.symbol) == ("symbol", "GLD")


def test_a_partial_exit_carries_its_percent() -> None:
    signal = signal_of({"action": "close", "symbol": "AAPL", "percent": "25"})
    assert (signal.intent, signal.percent) == ("close", D(25))
