"""Hypothesis strategies for hostile alert payloads and field values."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# A credential value the parsers must never echo back.
SENTINEL_SECRET = "whsec_SENTINELdoNotEcho0123456789abcdefXYZ"

# Values a sender might put in any field: the shapes TradingView renders, numbers in
# every spelling Decimal() would read, and what an attacker would try.
NUMERIC_TEXT = st.one_of(
    st.from_regex(r"\A[+-]?[0-9]{1,20}(\.[0-9]{0,20})?([eE][+-]?[0-9]{1,10})?\Z"),
    st.sampled_from([
        "NaN", "-nan", "sNaN", "Infinity", "-Infinity", "inf", "1e400", "-1e400",
        "1e999999999", "1e-999999999", "0", "-0", "0.0", "-1", "1_000", "0x10",
        "\u0661\u0662\u0663", "\uff11\uff10", "1\u00a0000", " 7 ", "", "   ",
        "{{close}}", "{{strategy.order.contracts}}", "1e15", "999999999999999",
        "0.000000000000000001", "0.0000000000000000001",
    ]),
)
HOSTILE_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from([
        "\u0410APL",  # Cyrillic A
        "AAPL\u202e",  # right-to-left override
        "\u202eLPAA", "AA\u200bPL", "AAPL\x00", "BTC/USD", "NASDAQ:AAPL", "BRK.B",
        "{{ticker}}", "long", "sell", "buy", "close", "BUY", " Long ", "short",
        "2024-05-01T14:30:00Z", "2024-13-45T99:99:99", "+275760-09-13T00:00:00Z",
        "a" * 200,
    ]),
)
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    NUMERIC_TEXT, HOSTILE_TEXT,
)
# What orjson can produce from a body: no NaN/Infinity, 64-bit integers.
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8,
)
# Python callers (and msgspec-decoded events) may also hand over non-finite floats.
ANY_VALUES = st.one_of(JSON_VALUES, st.floats(), st.integers())

DIALECT_BASES: dict[str, dict[str, Any]] = {
    "tradingview": {"symbol": "AAPL", "strategy_order_id": "long",
                    "strategy_order_action": "buy", "strategy_order_contracts": "1",
                    "strategy_order_price": "100", "strategy_order_comment": "c",
                    "time": "2024-05-01T14:30:00Z"},
    "exchange": {"alertId": "a-1", "action": "buy", "symbol": "AAPL", "price": "100",
                 "quantity": "2", "orderType": "limit", "stopLoss": "90",
                 "takeProfit": "120", "timestamp": "1714573800000"},
    "propfirm": {"tenantId": "t", "accountId": "acc-1", "symbol": "EURUSD",
                 "action": "sell", "quantity": "5", "orderType": "market",
                 "price": "1.1", "botId": "b", "strategyName": "s", "signalId": "x",
                 "timestamp": 1714573800},
    "routed": {"strategy": "Gold", "signal": "BUY", "confidence": 0.8,
               "symbol": "XAUUSD", "quantity": "1", "price": "2300"},
}


@st.composite
def dialect_payloads(draw: st.DrawFn, values: st.SearchStrategy[Any] = JSON_VALUES
                     ) -> dict[str, Any]:
    """A well-formed alert of some dialect with some fields replaced, dropped or added."""
    base = dict(DIALECT_BASES[draw(st.sampled_from(sorted(DIALECT_BASES)))])
    for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=4, unique=True)):
        if draw(st.booleans()):
            base[key] = draw(values)
        else:
            del base[key]
    base.update(draw(st.dictionaries(st.text(max_size=12), values, max_size=2)))
    base["token"] = SENTINEL_SECRET
    return base
