"""Parsing the four alert dialects into ParsedAlert."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.dialects import AlertError, ParsedAlert, parse_alert, parse_text_message

SECRET = "tok-DO-NOT-LEAK-42"


def tradingview(**overrides: Any) -> dict[str, Any]:
    """A rendered TradingView long entry."""
    payload: dict[str, Any] = {
        "symbol": "AAPL",
        "strategy_order_id": "long",
        "strategy_order_action": "buy",
        "strategy_order_contracts": "3",
        "strategy_order_price": "189.25",
        "strategy_order_comment": "breakout",
        "time": "2024-05-01T14:30:00Z",
    }
    return {**payload, **overrides}


def exchange(**overrides: Any) -> dict[str, Any]:
    """An exchange-style market buy."""
    payload: dict[str, Any] = {
        "alertId": "a-1",
        "action": "buy",
        "symbol": "BTCUSD",
        "price": 65000.5,
        "quantity": 0.25,
        "stopLoss": 64000,
        "takeProfit": 67000,
        "timestamp": 1714573800,
    }
    return {**payload, **overrides}


def propfirm(**overrides: Any) -> dict[str, Any]:
    """A prop-firm style limit sell."""
    payload: dict[str, Any] = {
        "tenantId": "t-1",
        "accountId": "acc-9",
        "symbol": "EURUSD",
        "action": "sell",
        "quantity": "10000",
        "orderType": "limit",
        "price": "1.0850",
        "stopLoss": "1.0900",
        "takeProfit": "1.0750",
        "botId": "bot-3",
        "strategyName": "Mean Revert",
        "signalId": "sig-77",
        "timestamp": "2024-05-01T14:30:00+02:00",
    }
    return {**payload, **overrides}


def routed(**overrides: Any) -> dict[str, Any]:
    """The strategy-routed example from the design."""
    payload: dict[str, Any] = {
        "strategy": "DynamicGoldBreakout",
        "signal": "BUY",
        "confidence": 0.82,
    }
    return {**payload, **overrides}


def rejection(payload: dict[str, Any]) -> AlertError:
    with pytest.raises(AlertError) as caught:
        parse_alert(payload)
    return caught.value


# --- happy paths -------------------------------------------------------------


def test_tradingview_long_entry() -> None:
    alert = parse_alert(tradingview())
    assert alert == ParsedAlert(
        dialect="tradingview",
        symbol="AAPL",
        intent="enter_long",
        quantity=Decimal("3"),
        price=Decimal("189.25"),
        comment="breakout",
        alert_time=datetime(2024, 5, 1, 14, 30, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("order_id", "action", "intent"),
    [
        ("long", "buy", "enter_long"),
        ("long", "sell", "exit_long"),
        ("sell", "sell", "enter_short"),
        ("sell", "buy", "exit_short"),
        ("short", "sell", "enter_short"),
        ("short", "buy", "exit_short"),
        ("LONG", "BUY", "enter_long"),
        (" Sell ", "Buy", "exit_short"),
    ],
)
def test_tradingview_trade_types(order_id: str, action: str, intent: str) -> None:
    payload = tradingview(strategy_order_id=order_id, strategy_order_action=action)
    assert parse_alert(payload).intent == intent


def test_tradingview_ticker_is_an_alias_for_symbol() -> None:
    payload = tradingview(ticker=" NASDAQ:AAPL ")
    del payload["symbol"]
    alert = parse_alert(payload)
    assert alert.symbol == "NASDAQ:AAPL"
    assert "ticker" not in alert.extras


def test_tradingview_optional_fields_may_be_left_out() -> None:
    payload = tradingview()
    for key in ("strategy_order_price", "strategy_order_comment", "time"):
        del payload[key]
    alert = parse_alert(payload)
    assert (alert.price, alert.comment, alert.alert_time) == (None, "", None)


def test_exchange_happy_path() -> None:
    alert = parse_alert(exchange())
    assert alert.dialect == "exchange"
    assert alert.intent == "buy"
    assert alert.alert_id == "a-1"
    assert alert.quantity == Decimal("0.25")
    assert alert.price == Decimal("65000.5")
    assert (alert.stop_loss, alert.take_profit) == (Decimal(64000), Decimal(67000))
    assert alert.order_type == "market"
    assert alert.alert_time == datetime(2024, 5, 1, 14, 30, tzinfo=UTC)


def test_exchange_close_needs_only_the_basics() -> None:
    alert = parse_alert({"alertId": 17, "action": "CLOSE", "symbol": "ETH/USD"})
    assert (alert.intent, alert.alert_id, alert.quantity) == ("close", "17", None)


def test_propfirm_happy_path() -> None:
    alert = parse_alert(propfirm())
    assert alert.dialect == "propfirm"
    assert alert.intent == "sell"
    assert alert.order_type == "limit"
    assert alert.price == Decimal("1.0850")
    assert alert.quantity == Decimal(10000)
    assert (alert.tenant_hint, alert.account_hint, alert.bot_id) == ("t-1", "acc-9", "bot-3")
    assert (alert.strategy_name, alert.alert_id) == ("Mean Revert", "sig-77")
    assert alert.alert_time == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def test_propfirm_account_alone_is_enough() -> None:
    payload = propfirm()
    del payload["tenantId"]
    assert parse_alert(payload).tenant_hint == ""


def test_routed_happy_path() -> None:
    alert = parse_alert(routed())
    assert alert == ParsedAlert(
        dialect="routed",
        symbol="",
        intent="buy",
        strategy_name="DynamicGoldBreakout",
        confidence=0.82,
    )


def test_routed_optional_symbol_quantity_price() -> None:
    alert = parse_alert(routed(signal="close", symbol="XAUUSD", quantity="2", price="2350.1"))
    assert (alert.intent, alert.symbol) == ("close", "XAUUSD")
    assert (alert.quantity, alert.price) == (Decimal(2), Decimal("2350.1"))


# --- detection ---------------------------------------------------------------


def test_unknown_format_lists_what_each_dialect_needs() -> None:
    error = rejection({"ticker": "AAPL", "side": "buy", "token": SECRET})
    assert error.field == ""
    for expected in ("strategy_order_action", "alertId", "tenantId", "strategy, signal"):
        assert expected in error.message
    assert SECRET not in error.message


def test_detection_prefers_tradingview_fields() -> None:
    assert parse_alert(tradingview(alertId="x")).dialect == "tradingview"
    assert parse_alert(exchange(tenantId="t")).dialect == "exchange"


# --- lax numbers and times ---------------------------------------------------


def test_numbers_may_arrive_as_text() -> None:
    alert = parse_alert(exchange(price=" 100.50 ", quantity="1e-3", stopLoss="99"))
    assert (alert.price, alert.quantity, alert.stop_loss) == (
        Decimal("100.50"),
        Decimal("0.001"),
        Decimal(99),
    )


def test_float_keeps_its_decimal_spelling() -> None:
    assert parse_alert(exchange(quantity=0.1)).quantity == Decimal("0.1")


@pytest.mark.parametrize(
    "stamp",
    [
        1714573800,
        "1714573800",
        1714573800000,
        "1714573800000",
        1714573800.0,
        "2024-05-01T14:30:00Z",
        "2024-05-01T14:30:00+00:00",
        "2024-05-01T16:30:00+02:00",
        "2024-05-01T14:30:00",
    ],
)
def test_alert_time_formats(stamp: Any) -> None:
    alert = parse_alert(exchange(timestamp=stamp))
    assert alert.alert_time == datetime(2024, 5, 1, 14, 30, tzinfo=UTC)
    assert alert.alert_time is not None and alert.alert_time.tzinfo is not None


def test_bad_time_is_rejected() -> None:
    error = rejection(exchange(timestamp="yesterday"))
    assert error.field == "timestamp"
    assert "ISO 8601" in error.message


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("quantity", "NaN", "finite"),
        ("quantity", float("nan"), "finite"),
        ("price", "Infinity", "finite"),
        ("price", float("inf"), "finite"),
        ("quantity", 0, "greater than 0"),
        ("quantity", "-1", "greater than 0"),
        ("price", -5, "greater than 0"),
        ("stopLoss", "0", "greater than 0"),
        ("takeProfit", -1.5, "greater than 0"),
        ("quantity", True, "boolean"),
        ("price", False, "boolean"),
        ("quantity", "ten", "expected a number"),
        ("price", [1], "expected a number"),
    ],
)
def test_bad_numbers_are_rejected(field: str, value: Any, reason: str) -> None:
    error = rejection(exchange(**{field: value}))
    assert error.field == field
    assert error.message.startswith(f"{field}: ")
    assert reason in error.message


def test_tradingview_entry_needs_positive_contracts() -> None:
    error = rejection(tradingview(strategy_order_contracts="0"))
    assert error.field == "strategy_order_contracts"
    missing = tradingview()
    del missing["strategy_order_contracts"]
    assert rejection(missing).field == "strategy_order_contracts"


@pytest.mark.parametrize("contracts", [None, "0", "{{strategy.order.contracts}}", "n/a"])
def test_tradingview_exit_ignores_unusable_size(contracts: Any) -> None:
    payload = tradingview(strategy_order_action="sell", strategy_order_contracts=contracts)
    alert = parse_alert(payload)
    assert (alert.intent, alert.quantity) == ("exit_long", None)


def test_tradingview_exit_keeps_a_usable_size() -> None:
    alert = parse_alert(tradingview(strategy_order_action="sell", strategy_order_contracts="5"))
    assert alert.quantity == Decimal(5)


def test_tradingview_negative_price_rejected() -> None:
    assert rejection(tradingview(strategy_order_price="-1")).field == "strategy_order_price"


def test_tradingview_unknown_order_id_explains_accepted_values() -> None:
    error = rejection(tradingview(strategy_order_id="Long Entry"))
    assert error.field == "strategy_order_id"
    assert "'long'" in error.message and "'sell'" in error.message


# --- placeholders ------------------------------------------------------------


def test_unrendered_contracts_placeholder_message() -> None:
    error = rejection(tradingview(strategy_order_contracts="{{strategy.order.contracts}}"))
    assert error.field == "strategy_order_contracts"
    assert error.message == (
        "strategy_order_contracts: expected a number, got '{{strategy.order.contracts}}' "
        "(an unrendered TradingView placeholder)"
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (tradingview(symbol="{{ticker}}"), "symbol"),
        (tradingview(strategy_order_action="{{strategy.order.action}}"), "strategy_order_action"),
        (tradingview(strategy_order_id="{{strategy.order.id}}"), "strategy_order_id"),
        (tradingview(time="{{timenow}}"), "time"),
        (
            tradingview(strategy_order_comment="x {{strategy.order.comment}}"),
            "strategy_order_comment",
        ),
        (exchange(price="{{close}}"), "price"),
        (exchange(alertId="{{plot_0}}"), "alertId"),
        (propfirm(quantity="{{strategy.order.contracts}}"), "quantity"),
        (routed(signal="{{strategy.order.action}}"), "signal"),
    ],
)
def test_placeholders_are_rejected_with_the_field(payload: dict[str, Any], field: str) -> None:
    error = rejection(payload)
    assert error.field == field
    assert "unrendered TradingView placeholder" in error.message
    assert error.message.startswith(f"{field}: ")


def test_placeholders_in_user_fields_are_kept() -> None:
    alert = parse_alert(tradingview(interval="{{interval}}"))
    assert alert.extras == {"interval": "{{interval}}"}


# --- exchange and prop-firm rules --------------------------------------------


@pytest.mark.parametrize("kind", ["limit", "stop", "LIMIT"])
def test_limit_and_stop_need_a_price(kind: str) -> None:
    payload = exchange(orderType=kind)
    del payload["price"]
    error = rejection(payload)
    assert error.field == "price"
    assert kind.lower() in error.message


def test_unknown_order_type_and_action_rejected() -> None:
    assert rejection(exchange(orderType="trailing")).field == "orderType"
    assert rejection(exchange(action="hold")).field == "action"


def test_missing_required_fields_are_named() -> None:
    error = rejection({"alertId": "a"})
    assert error.field == "action"
    assert "action: required field is missing" in error.message
    error = rejection({"alertId": "a", "action": "buy"})
    assert (error.field, error.message) == ("symbol", "symbol: required field is missing")


def test_propfirm_buy_needs_quantity_but_close_does_not() -> None:
    payload = propfirm(action="buy", orderType="market")
    del payload["quantity"]
    assert rejection(payload).field == "quantity"
    assert parse_alert({**payload, "action": "close"}).quantity is None


def test_propfirm_needs_a_tenant_or_account_value() -> None:
    assert rejection(propfirm(tenantId="", accountId=None)).field == "tenantId"


@pytest.mark.parametrize("confidence", [1.5, -0.1, "NaN", True])
def test_routed_confidence_is_a_fraction(confidence: Any) -> None:
    assert rejection(routed(confidence=confidence)).field == "confidence"


def test_routed_rejects_empty_strategy_and_unknown_signal() -> None:
    assert rejection(routed(strategy="  ")).field == "strategy"
    error = rejection(routed(signal="HOLD"))
    assert error.field == "signal"
    assert "'buy', 'sell', 'close'" in error.message


# --- extras and credentials --------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [tradingview(), exchange(), propfirm(), routed()],
    ids=["tradingview", "exchange", "propfirm", "routed"],
)
def test_extras_kept_verbatim_and_credentials_dropped(payload: dict[str, Any]) -> None:
    custom = {"note": "my own field", "levels": [1, 2, {"a": None}], "rsi": 71.5}
    alert = parse_alert({**payload, **custom, "token": SECRET, "secret": SECRET})
    assert alert.extras == custom
    assert SECRET not in repr(alert)


def test_credentials_never_echoed_in_errors() -> None:
    error = rejection(exchange(quantity="-3", token=SECRET, Secret=SECRET))
    assert SECRET not in error.message
    assert SECRET not in str(error)
    assert error.__cause__ is None


# --- text/plain messages -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("action=buy\nsymbol=AAPL", {"action": "buy", "symbol": "AAPL"}),
        ("action: buy\r\nsymbol : AAPL", {"action": "buy", "symbol": "AAPL"}),
        ("action=buy; symbol=AAPL", {"action": "buy", "symbol": "AAPL"}),
        ("\n  action = buy ;\n\n symbol=AAPL;", {"action": "buy", "symbol": "AAPL"}),
        ("time=2024-05-01T14:30:00Z", {"time": "2024-05-01T14:30:00Z"}),
        ("time: 14:30", {"time": "14:30"}),
        ("note: a=b", {"note": "a=b"}),
        ("Buy now!\nsymbol=AAPL", {"symbol": "AAPL"}),
        ("price=", {"price": ""}),
    ],
)
def test_text_message_pairs(text: str, expected: dict[str, Any]) -> None:
    assert parse_text_message(text) == expected


@pytest.mark.parametrize("text", ["", "   \n ;; ", "BUY AAPL", "=buy"])
def test_text_message_without_pairs(text: str) -> None:
    with pytest.raises(AlertError) as caught:
        parse_text_message(text)
    assert caught.value.field == ""
    assert "key=value" in caught.value.message


def test_text_message_never_echoes_its_content() -> None:
    with pytest.raises(AlertError) as caught:
        parse_text_message(f"buy AAPL {SECRET}")
    assert SECRET not in caught.value.message


def test_text_message_feeds_parse_alert() -> None:
    text = "alertId=9\naction=sell\nsymbol=TSLA\nquantity=2\ntoken=" + SECRET
    alert = parse_alert(parse_text_message(text))
    assert (alert.dialect, alert.intent, alert.quantity) == ("exchange", "sell", Decimal(2))
    assert alert.extras == {}


@pytest.mark.parametrize(("payload", "field"), [
    (tradingview(strategy_order_price="1e12"), "strategy_order_price"),
    (exchange(price="5e14"), "price"),
    (exchange(stopLoss="1000000000000"), "stopLoss"),
    (propfirm(takeProfit=1e13), "takeProfit"),
    ({"strategy": "S", "signal": "buy", "price": "2e12"}, "price"),
])
def test_a_price_of_10_to_the_12_or_more_is_refused_naming_the_field(
        payload: dict[str, Any], field: str) -> None:
    with pytest.raises(AlertError) as caught:
        parse_alert(payload)
    assert caught.value.field == field
    assert "must be below 10^12" in caught.value.message


def test_a_price_just_below_the_bound_is_accepted() -> None:
    assert parse_alert(exchange(price="999999999999")).price == Decimal("999999999999")


# --- exchange alerts without alertId; precise errors for a recognised dialect --------

def test_an_exchange_alert_without_alert_id_is_accepted() -> None:
    payload = exchange()
    del payload["alertId"]
    alert = parse_alert(payload)
    assert (alert.dialect, alert.alert_id, alert.intent) == ("exchange", "", "buy")
    assert alert.quantity == Decimal("0.25")
    ticker = parse_alert({"ticker": "NASDAQ:AAPL", "action": "sell", "quantity": "2"})
    assert (ticker.dialect, ticker.symbol, ticker.intent) == ("exchange", "NASDAQ:AAPL", "sell")


@pytest.mark.parametrize(("payload", "field"), [
    ({"strategy_order_id": "long", "symbol": "AAPL", "strategy_order_contracts": "1"},
     "strategy_order_action"),
    ({"strategy_market_position": "long", "symbol": "AAPL"}, "strategy_order_action"),
    ({"strategy_order_action": "buy", "strategy_order_contracts": "1", "strategy_order_id": "long"},
     "symbol"),
    ({"action": "buy", "quantity": "1"}, "symbol"),
    ({"symbol": "AAPL", "action": "buy", "botId": "b-1", "quantity": "1"}, "tenantId"),
    ({"symbol": "AAPL", "action": "buy", "signalId": "s-1", "accountId": "a"}, "quantity"),
    ({"strategy": "Gold"}, "signal"),
    ({"signal": "BUY", "confidence": 0.5}, "strategy"),
])
def test_a_recognised_but_incomplete_alert_names_the_one_missing_field(
        payload: dict[str, Any], field: str) -> None:
    error = rejection({**payload, "token": SECRET})
    assert error.field == field
    assert error.message.startswith(f"{field}: ")
    assert "unrecognised" not in error.message
    assert SECRET not in error.message


def test_an_alert_with_no_dialect_field_is_still_unrecognised() -> None:
    error = rejection({"symbol": "AAPL", "quantity": "1"})
    assert (error.field, error.message.split(";")[0]) == (
        "", "unrecognised alert format")


# --- close_all / cancel_all and partial exits --------------------------------------

@pytest.mark.parametrize(("payload", "intent", "scope", "symbol"), [
    ({"action": "close_all", "symbol": "AAPL"}, "close_all", "symbol", "AAPL"),
    ({"action": "CANCEL_ALL"}, "cancel_all", "account", ""),
    ({"ticker": "AAPL", "action": "close_all", "scope": "account"}, "close_all", "account",
     "AAPL"),
    ({"alertId": "x", "action": "cancel_all", "symbol": "MSFT"}, "cancel_all", "symbol",
     "MSFT"),
    ({"accountId": "acc-9", "action": "close_all"}, "close_all", "account", ""),
    ({"tenantId": "t", "symbol": "AAPL", "action": "cancel_all"}, "cancel_all", "symbol",
     "AAPL"),
    ({"strategy": "Gold", "signal": "CLOSE_ALL"}, "close_all", "account", ""),
    ({"strategy": "Gold", "signal": "cancel_all", "scope": "symbol"}, "cancel_all", "symbol",
     ""),
    ({"strategy": "Gold", "signal": "close_all", "symbol": "GLD"}, "close_all", "symbol",
     "GLD"),
])
def test_sweeps_parse_with_their_scope(payload: dict[str, Any], intent: str, scope: str,
                                       symbol: str) -> None:
    alert = parse_alert({**payload, "token": SECRET})
    assert (alert.intent, alert.scope, alert.symbol) == (intent, scope, symbol)
    assert alert.quantity is None


@pytest.mark.parametrize(("payload", "field"), [
    ({"action": "buy", "symbol": "AAPL", "scope": "account"}, "scope"),
    ({"action": "close_all", "scope": "everything"}, "scope"),
    ({"strategy": "Gold", "signal": "buy", "scope": "symbol"}, "scope"),
    ({"action": "buy", "symbol": "AAPL", "quantity": "1", "percent": "50"}, "percent"),
    ({"action": "close", "symbol": "AAPL", "percent": "0"}, "percent"),
    ({"action": "close", "symbol": "AAPL", "percent": "120"}, "percent"),
    ({"accountId": "a", "symbol": "AAPL", "action": "sell", "percent": "10",
      "quantity": "1"}, "percent"),
])
def test_scope_and_percent_only_where_they_mean_something(payload: dict[str, Any],
                                                          field: str) -> None:
    assert rejection(payload).field == field


@pytest.mark.parametrize("payload", [
    {"action": "close", "symbol": "AAPL", "quantity": "3"},
    {"accountId": "a", "symbol": "AAPL", "action": "close", "quantity": "3"},
    {"strategy": "Gold", "signal": "close", "quantity": "3"},
])
def test_a_close_with_a_quantity_keeps_it(payload: dict[str, Any]) -> None:
    assert parse_alert(payload).quantity == Decimal(3)


def test_a_close_with_a_percent_keeps_it() -> None:
    alert = parse_alert({"action": "close", "symbol": "AAPL", "percent": "50"})
    assert (alert.intent, alert.percent, alert.quantity) == ("close", Decimal(50), None)


# --- round trips -------------------------------------------------------------------

_QUANTITIES = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10) ** 6, places=4)
_PERCENTS = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(100), places=2)


@st.composite
def _orders(draw: st.DrawFn) -> dict[str, Any]:
    """What an exchange-style sender means: an action and the fields that go with it."""
    action = draw(st.sampled_from(["buy", "sell", "close", "close_all", "cancel_all"]))
    meant: dict[str, Any] = {"action": action, "symbol": draw(st.sampled_from(
        ["AAPL", "BINANCE:BTCUSDT", "EUR/USD", ""] if action in ("close_all", "cancel_all")
        else ["AAPL", "BINANCE:BTCUSDT", "EUR/USD"]))}
    if action in ("buy", "sell") or (action == "close" and draw(st.booleans())):
        meant["quantity"] = draw(_QUANTITIES)
    elif action == "close" and draw(st.booleans()):
        meant["percent"] = draw(_PERCENTS)
    if action in ("close_all", "cancel_all") and draw(st.booleans()):
        meant["scope"] = draw(st.sampled_from(["symbol", "account"]))
    return meant


@given(meant=_orders(), as_text=st.booleans(), dialect=st.sampled_from(["exchange",
                                                                         "propfirm"]))
def test_an_exchange_or_prop_firm_alert_round_trips(meant: dict[str, Any], as_text: bool,
                                                    dialect: str) -> None:
    payload = {k: str(v) if as_text else v for k, v in meant.items() if v != ""}
    if dialect == "propfirm":
        payload["accountId"] = "acc-9"
    alert = parse_alert(payload)
    assert (alert.dialect, alert.intent, alert.symbol) == (dialect, meant["action"],
                                                           meant["symbol"])
    assert (alert.quantity, alert.percent) == (meant.get("quantity"), meant.get("percent"))
    sweep = meant["action"] in ("close_all", "cancel_all")
    expected_scope = meant.get("scope") or ("symbol" if meant["symbol"] or not sweep
                                            else "account")
    assert alert.scope == expected_scope
