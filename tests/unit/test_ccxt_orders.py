"""ccxt order structures as the pipeline's BrokerOrder (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from contracts.orders import OrderRequest
from libs.brokers.base import BrokerRejected
from libs.brokers.ccxt_orders import broker_order, venue_order

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


class _Exchange:
    """The little of a ccxt exchange that venue_order reads."""

    def __init__(self, contract_size: float | None) -> None:
        self.contract_size = contract_size

    def market(self, symbol: str) -> dict[str, Any]:
        return {"contract": self.contract_size is not None, "contractSize": self.contract_size,
                "limits": {"amount": {"min": 0.001}, "cost": {"min": 5}}}

    def amount_to_precision(self, symbol: str, amount: str) -> str:
        return str(Decimal(amount).quantize(Decimal("0.001"), rounding="ROUND_DOWN"))

    def price_to_precision(self, symbol: str, price: str) -> str:
        return str(Decimal(price).quantize(Decimal("0.1")))


def test_markets_sized_in_contracts_of_several_coins_are_sent_in_contracts() -> None:
    """Quantities are coins; a market whose contract is 0.01 BTC (OKX swaps) is sent
    the number of contracts, truncated to the market's step; one of a coin as is."""
    request = OrderRequest(client_order_id="c", symbol="BTC/USDT", side="buy",
                           quantity=Decimal("0.5"), intent="enter_long",
                           reference_price=Decimal(60000))
    sent = venue_order(_Exchange(1.0), request, "BTC/USDT:USDT", "buy", Decimal("0.5123"),
                       "c", reduce_only=False, contract=True)
    assert (sent.amount, sent.type, sent.params) == ("0.512", "market", {"clientOrderId": "c"})
    sent = venue_order(_Exchange(0.01), request, "BTC/USDT:USDT", "buy", Decimal("0.5123"),
                       "c", reduce_only=False, contract=True)
    assert sent.amount == "51.230"  # 0.5123 BTC = 51.23 contracts of 0.01 BTC
    with pytest.raises(BrokerRejected) as refused:  # less than the smallest lot
        venue_order(_Exchange(0.01), request, "BTC/USDT:USDT", "buy", Decimal("0.000001"),
                    "c", reduce_only=False, contract=True)
    assert refused.value.code == "below_minimum"
