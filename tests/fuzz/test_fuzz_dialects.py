"""Every dialect parser: any payload in -> a ParsedAlert or an AlertError, nothing else.

A parsed alert must be safe to trade on (finite, positive, bounded numbers; an ASCII
ticker) and must survive the trip through the ``webhook.received`` event unchanged,
because the validator parses the stored payload again.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, get_args

import pytest
from fuzz.alerts import ANY_VALUES, HOSTILE_TEXT, SENTINEL_SECRET, dialect_payloads
from hypothesis import assume, example, given
from hypothesis import strategies as st

from contracts.dialects import (
    AlertError,
    AlertIntent,
    DuplicateFieldError,
    ParsedAlert,
    detect_dialect,
    exchange,
    parse_alert,
    parse_text_message,
    propfirm,
    routed,
    tradingview,
)
from contracts.events import WebhookReceived, WebhookValidated, decode_event, encode_event
from contracts.signals import Signal
from services.validator.rules import Refusal, build_signal
from tests.factories import NOW

INTENTS = set(get_args(AlertIntent))
TICKER = re.compile(r"[!-~]{1,40}")
PARSERS = {"tradingview": tradingview.parse, "exchange": exchange.parse,
           "propfirm": propfirm.parse, "routed": routed.parse}


def outcome(payload: Any) -> ParsedAlert | AlertError:
    """The parser's answer; anything but AlertError propagates and fails the test."""
    try:
        return parse_alert(payload)
    except AlertError as exc:
        return exc


def assert_precise(error: AlertError) -> None:
    assert isinstance(error.field, str)
    assert error.message and error.message == str(error)
    assert SENTINEL_SECRET not in error.message
    assert error.__cause__ is None  # no chained exception carrying the input


def assert_tradeable_number(value: Decimal | None) -> None:
    if value is not None:
        assert value.is_finite()
        assert value > 0
        assert Decimal("1e-18") <= value < Decimal("1e15")


def assert_safe(alert: ParsedAlert) -> None:
    assert alert.intent in INTENTS
    assert alert.dialect == alert.dialect.lower() and alert.dialect in PARSERS
    if alert.dialect == "routed":
        assert alert.symbol == "" or TICKER.fullmatch(alert.symbol)
    else:
        assert TICKER.fullmatch(alert.symbol), alert.symbol
    for number in (alert.quantity, alert.price, alert.stop_loss, alert.take_profit):
        assert_tradeable_number(number)
    if alert.intent.startswith("enter"):
        assert alert.quantity is not None
    assert alert.order_type in {"market", "limit", "stop"}
    if alert.order_type != "market" and alert.dialect in {"exchange", "propfirm"}:
        assert alert.price is not None
    if alert.alert_time is not None:
        assert alert.alert_time.tzinfo is not None
    if alert.confidence is not None:
        assert 0 <= alert.confidence <= 1
    assert "token" not in alert.extras
    assert SENTINEL_SECRET not in repr(alert)


@given(st.one_of(ANY_VALUES, st.dictionaries(st.text(max_size=25), ANY_VALUES, max_size=6)))
@example([{"symbol": "AAPL"}])
@example({"strategy_order_action": "buy"})
@example({"alertId": None, "action": "buy", "symbol": "AAPL"})
def test_any_value_is_an_alert_or_an_alert_error(payload: Any) -> None:
    result = outcome(payload)

    if isinstance(result, AlertError):
        assert_precise(result)
    else:
        assert_safe(result)


@given(dialect_payloads(ANY_VALUES))
# Crashed before the fix: 1e999999999 is a finite Decimal, and converting it to a time
# raised decimal.Overflow instead of a field error.
@example({**{"alertId": "a", "action": "buy", "symbol": "AAPL"},
          "timestamp": "1e999999999", "token": SENTINEL_SECRET})
# Decimal() reads Arabic-Indic and full-width digits and underscores: refused now.
@example({"alertId": "a", "action": "buy", "symbol": "AAPL", "quantity": "\u0661\u0662",
          "token": SENTINEL_SECRET})
@example({"alertId": "a", "action": "buy", "symbol": "AAPL", "quantity": "1_000",
          "token": SENTINEL_SECRET})
# Homoglyph and bidi-override tickers are refused, never traded as another symbol.
@example({"alertId": "a", "action": "buy", "symbol": "\u0410APL", "token": SENTINEL_SECRET})
@example({"strategy": "Gold", "signal": "buy", "symbol": "AAPL\u202e",
          "token": SENTINEL_SECRET})
def test_dialect_shaped_payloads_parse_safely_or_name_the_field(payload: dict[str, Any]
                                                                ) -> None:
    result = outcome(payload)

    if isinstance(result, AlertError):
        assert_precise(result)
    else:
        assert_safe(result)
        assert result.dialect == detect_dialect(payload)


@pytest.mark.parametrize("dialect", sorted(PARSERS))
@given(payload=dialect_payloads())
def test_each_parser_called_directly_raises_only_alert_errors(dialect: str,
                                                              payload: dict[str, Any]) -> None:
    try:
        alert = PARSERS[dialect](payload)
    except AlertError as exc:
        assert_precise(exc)
    else:
        assert_safe(alert)


@given(st.dictionaries(st.text(max_size=25), ANY_VALUES, max_size=6))
def test_detection_names_a_dialect_or_refuses_with_the_formats(payload: dict[str, Any]
                                                               ) -> None:
    try:
        dialect = detect_dialect(payload)
    except AlertError as exc:
        assert exc.field == ""
        assert "expected one of" in exc.message
        assert SENTINEL_SECRET not in exc.message
    else:
        assert dialect in PARSERS


@given(dialect_payloads())
@example({"alertId": "a", "action": "buy", "symbol": "AAPL", "quantity": 1e-7,
          "price": 123456.789, "timestamp": 1714573800123})
def test_the_stored_payload_parses_again_to_the_same_alert(payload: dict[str, Any]) -> None:
    """Ingress parses the body, stores it in webhook.received; the validator parses
    the decoded event: both must reach the same answer."""
    first = outcome(payload)
    event = WebhookReceived(event_id="e", signal_id="s", tenant_id="t", occurred_at=NOW,
                            strategy_id="st", account_id="a", dialect="x",
                            payload=payload, content_type="application/json",
                            auth_mode="token")
    decoded = decode_event(encode_event(event))
    assert isinstance(decoded, WebhookReceived)
    again = outcome(decoded.payload)

    if isinstance(first, AlertError):
        assert isinstance(again, AlertError)
        assert (again.field, again.message) == (first.field, first.message)
    else:
        assert again == first


@given(dialect_payloads(), st.sampled_from(["paper", "alpaca"]),
       st.sampled_from(["", "AAPL", "BTC/USD"]))
def test_a_parsed_alert_becomes_a_signal_or_a_refusal(payload: dict[str, Any], broker: str,
                                                      default_symbol: str) -> None:
    """The validator's step from alert to signal never raises, and the signal
    encodes into webhook.validated and back."""
    alert = outcome(payload)
    assume(not isinstance(alert, AlertError))  # refused earlier: not an example here
    assert not isinstance(alert, AlertError)
    built = build_signal(alert, broker, default_symbol)

    if isinstance(built, Refusal):
        assert built.code and built.reason
        return
    assert isinstance(built, Signal)
    event = WebhookValidated(event_id="e", signal_id="s", tenant_id="t", occurred_at=NOW,
                             strategy_id="st", account_id="a", signal=built)
    assert decode_event(encode_event(event)) == event


# --- text/plain key=value messages ------------------------------------------------------

PAIR_LINES = st.lists(
    st.tuples(st.sampled_from(["symbol", "action", "alertId", "quantity", "price",
                               "strategy_order_id", "strategy_order_action",
                               "strategy_order_contracts", "token", "x"]),
              st.sampled_from(["=", ":", " = "]), HOSTILE_TEXT),
    max_size=8,
).map(lambda pairs: "\n".join(f"{k}{sep}{v}" for k, sep, v in pairs))


@given(st.one_of(st.text(max_size=200), PAIR_LINES))
@example("action=buy\naction=sell\nsymbol=AAPL")
@example("=\n:\n;;;")
def test_text_messages_give_pairs_or_an_alert_error(text: str) -> None:
    try:
        pairs = parse_text_message(text)
    except DuplicateFieldError as exc:
        assert exc.field and exc.field in text
        assert "more than once" in exc.message
        return
    except AlertError as exc:
        assert exc.field == ""
        assert "key=value" in exc.message
        return
    assert pairs
    for key, value in pairs.items():
        assert key and key == key.strip()
        assert not re.search(r"[=:;\r\n]", key)
        assert isinstance(value, str) and value == value.strip()
    result = outcome(pairs)
    if isinstance(result, AlertError):
        assert_precise(result)
    else:
        assert_safe(result)


def test_a_repeated_text_key_is_refused_not_guessed() -> None:
    with pytest.raises(DuplicateFieldError) as caught:
        parse_text_message("action=buy\nsymbol=AAPL\naction=sell")
    assert caught.value.field == "action"


# From 1974 on, unix milliseconds are >= 1e11 and cannot be mistaken for seconds.
@given(st.datetimes(min_value=datetime(1974, 1, 1), max_value=datetime(9999, 1, 1),
                    timezones=st.just(UTC)))
def test_alert_times_round_trip_as_iso_and_unix_milliseconds(when: datetime) -> None:
    base = {"alertId": "a", "action": "close", "symbol": "AAPL"}
    iso = parse_alert({**base, "timestamp": when.isoformat()})
    assert iso.alert_time == when
    millis = int(when.timestamp() * 1000)
    from_millis = parse_alert({**base, "timestamp": str(millis)})
    assert from_millis.alert_time is not None
    assert abs(from_millis.alert_time.timestamp() - millis / 1000) < 0.001
