"""ccxt order structures as the pipeline's BrokerOrder (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from libs.brokers.ccxt_orders import broker_order

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def ccxt_order(**fields: Any) -> dict[str, Any]:
    return {"id": "77", "clientOrderId": "x", "symbol": "BTC/USDT:USDT", "side": "buy",
            "type": "limit", "status": "open", "amount": 2.0, "filled": 0.0,
            "price": 50000.0, "average": None, "timestamp": 1_796_000_000_000, **fields}


def test_a_closed_order_is_a_fill_at_its_average_price() -> None:
    done = broker_order(ccxt_order(status="closed", filled=2.0, average=49990.5,
                                   fee={"cost": -1.25}), "bot-1-a", "BTC/USDT", NOW)
    assert (done.status, done.client_order_id, done.symbol) == ("filled", "bot-1-a",
                                                                "BTC/USDT")
    assert done.fill is not None
    assert (done.fill.quantity, done.fill.average_price, done.fill.fee) == (
        Decimal(2), Decimal("49990.5"), Decimal("1.25"))


def test_a_resting_order_reports_its_partial_fill() -> None:
    part = broker_order(ccxt_order(filled=0.5, average=50000.0), "bot-1-a", "BTC/USDT", NOW)
    assert (part.status, part.fill, part.filled_quantity, part.average_fill_price) == (
        "open", None, Decimal("0.5"), Decimal(50000))


def test_a_cancel_after_a_partial_fill_is_a_fill_of_that_part() -> None:
    ended = broker_order(ccxt_order(status="canceled", filled=0.5, average=50000.0),
                         "bot-1-a", "BTC/USDT", NOW)
    assert ended.status == "filled" and ended.fill is not None
    assert ended.fill.quantity == Decimal("0.5")
    assert "after 0.5 of 2.0 filled" in ended.reason
    untouched = broker_order(ccxt_order(status="canceled"), "bot-1-a", "BTC/USDT", NOW)
    assert (untouched.status, untouched.fill) == ("canceled", None)


def test_stops_and_legs_are_recognised() -> None:
    stop = broker_order(ccxt_order(type="market", triggerPrice=48000.0, price=None),
                        "bot-1-a-sl", "BTC/USDT", NOW)
    assert (stop.order_type, stop.stop_price, stop.leg, stop.oco_group) == (
        "stop", Decimal(48000), "sl", "bot-1-a")
    take = broker_order(ccxt_order(), "bot-1-a-tp", "BTC/USDT", NOW)
    assert (take.order_type, take.limit_price, take.leg) == ("limit", Decimal(50000), "tp")
