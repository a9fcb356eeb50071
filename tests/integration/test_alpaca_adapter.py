"""The Alpaca adapter against a fake Alpaca server: requests, mapping, and no double orders."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import pytest
from factories import NOW, ManualClock, make_account, make_order
from fakes.alpaca_server import FakeAlpaca

from libs.brokers.alpaca import AlpacaBroker
from libs.brokers.base import BrokerRejected, BrokerUnavailable
from libs.registry.models import Account, AlpacaConfig

KEY_ID = "PKTESTKEYID0001"
SECRET = "sk-very-secret-alpaca-key-42"
COID = "gold-breakout-1714573800-0f1e2d3c"
LOOKUP = "GET /v2/orders:by_client_order_id"
POST = "POST /v2/orders"
ATTEMPTS = 4


@pytest.fixture
async def fake() -> AsyncIterator[FakeAlpaca]:
    server = FakeAlpaca(key_id=KEY_ID, secret_key=SECRET, hang_seconds=1.0)
    await server.start()
    server.set_price("AAPL", "187.5")
    server.set_price("BTC/USD", "60000")
    yield server
    await server.stop()


@pytest.fixture
def account(fake: FakeAlpaca) -> Account:
    return make_account(broker="alpaca", alpaca=AlpacaConfig(
        key_id=KEY_ID, secret_key=SECRET, url_override=fake.url))


@pytest.fixture
def broker() -> AlpacaBroker:
    return AlpacaBroker(ManualClock(), timeout=0.3, attempts=ATTEMPTS, base_wait=0.01,
                        max_wait=0.05)


def sent(fake: FakeAlpaca) -> dict[str, Any]:
    """The JSON body of the last order the fake received."""
    return fake.order_requests[-1]


# -- what is sent, and how answers map --------------------------------------------


async def test_market_order_fills_and_maps_to_a_fill(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    order = await broker.submit(account, make_order())

    body = sent(fake)
    assert body["client_order_id"] == COID
    assert (body["type"], body["side"], body["time_in_force"]) == ("market", "buy", "day")
    assert D(str(body["qty"])) == 10 and "notional" not in body and "order_class" not in body
    assert (order.status, order.order_type, order.client_order_id) == ("filled", "market", COID)
    assert order.fill is not None
    assert (order.fill.quantity, order.fill.average_price, order.fill.fee) == (10, D("187.5"), 0)
    assert order.fill.order_id == order.order_id == fake.by_client_id[COID]
    assert order.fill.filled_at != NOW  # Alpaca's fill time, not the clock's


async def test_limit_order_rests_open_until_the_price_crosses_it(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    order = await broker.submit(account, make_order(order_type="limit", limit_price=D(180)))

    assert (sent(fake)["type"], D(str(sent(fake)["limit_price"]))) == ("limit", 180)
    assert (order.status, order.order_type, order.limit_price, order.fill) == (
        "open", "limit", 180, None)
    fake.set_price("AAPL", "179.9")
    filled = await broker.find_order(account, COID)
    assert filled is not None and filled.status == "filled"
    assert filled.fill is not None and filled.fill.average_price == D("179.9")


async def test_stop_order_sends_its_stop_price(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    order = await broker.submit(account, make_order(order_type="stop", stop_price=D(190)))

    assert (sent(fake)["type"], D(str(sent(fake)["stop_price"]))) == ("stop", 190)
    assert (order.status, order.order_type, order.stop_price) == ("open", "stop", 190)


async def test_limit_order_without_price_is_refused_before_sending(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    with pytest.raises(BrokerRejected) as refused:
        await broker.submit(account, make_order(order_type="limit"))
    assert refused.value.code == "missing_price" and fake.count(POST) == 0


async def test_both_protective_prices_make_a_bracket_order(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    order = await broker.submit(account, make_order(take_profit_price=D(200),
                                                    stop_loss_price=D(175)))

    body = sent(fake)
    assert body["order_class"] == "bracket"
    assert body["take_profit"] == {"limit_price": 200.0}
    assert body["stop_loss"] == {"stop_price": 175.0}
    assert order.status == "filled"
    legs = await broker.open_orders(account)
    assert sorted((leg.order_type, leg.side) for leg in legs) == [
        ("limit", "sell"), ("stop", "sell")]


async def test_one_protective_price_makes_an_oto_order(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    await broker.submit(account, make_order(stop_loss_price=D(175)))

    assert sent(fake)["order_class"] == "oto" and "take_profit" not in sent(fake)


async def test_notional_order_is_a_day_market_order_without_qty(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    order = await broker.submit(account, make_order(notional=D(1000), time_in_force="gtc",
                                                    quantity=D("5.333")))

    body = sent(fake)
    assert D(str(body["notional"])) == 1000 and "qty" not in body
    assert body["time_in_force"] == "day"
    assert order.notional == 1000 and order.fill is not None
    assert order.fill.quantity == (D(1000) / D("187.5")).quantize(D("0.000000001"))


async def test_notional_is_only_for_market_orders(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    await broker.submit(account, make_order(order_type="limit", limit_price=D(150),
                                            notional=D(1500), quantity=D(10)))

    assert D(str(sent(fake)["qty"])) == 10 and "notional" not in sent(fake)


async def test_fractional_equity_order_is_day_market_and_simple(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    await broker.submit(account, make_order(quantity=D("2.5"), time_in_force="gtc",
                                            take_profit_price=D(200), stop_loss_price=D(175)))
    body = sent(fake)
    assert body["time_in_force"] == "day" and "order_class" not in body

    with pytest.raises(BrokerRejected) as refused:
        await broker.submit(account, make_order(client_order_id="frac-limit", quantity=D("2.5"),
                                                order_type="limit", limit_price=D(180)))
    assert refused.value.code == "fractional_not_market"
    assert fake.count(POST) == 1


async def test_crypto_is_gtc_and_a_bracket_becomes_a_simple_order(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="libs.brokers.alpaca")
    order = await broker.submit(account, make_order(
        symbol="BTC/USD", quantity=D("0.25"), take_profit_price=D(70000),
        stop_loss_price=D(55000)))

    body = sent(fake)
    assert (body["symbol"], body["time_in_force"]) == ("BTC/USD", "gtc")
    assert "order_class" not in body and "take_profit" not in body
    assert order.status == "filled" and order.symbol == "BTC/USD"
    assert "simple order only" in caplog.text and COID in caplog.text


async def test_crypto_short_entry_is_refused_without_calling_alpaca(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    with pytest.raises(BrokerRejected) as refused:
        await broker.submit(account, make_order(symbol="BTC/USD", side="sell",
                                                intent="enter_short", quantity=D(1)))
    assert refused.value.code == "no_crypto_shorts"
    assert fake.requests == []


async def test_crypto_flip_to_short_is_refused_before_closing_anything(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    fake.set_position("BTC/USD", "0.2", 50000)
    with pytest.raises(BrokerRejected) as refused:
        await broker.submit(account, make_order(symbol="BTC/USD", side="sell", intent="sell",
                                                quantity=D("0.5"), close_quantity=D("0.2")))
    assert refused.value.code == "no_crypto_shorts" and fake.requests == []


async def test_crypto_sell_beyond_the_long_position_is_refused(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    fake.set_position("BTC/USD", "0.2", 50000)
    with pytest.raises(BrokerRejected) as refused:
        await broker.submit(account, make_order(symbol="BTC/USD", side="sell", intent="sell",
                                                quantity=D("0.5")))
    assert refused.value.code == "no_crypto_shorts" and fake.count(POST) == 0

    order = await broker.submit(account, make_order(symbol="BTC/USD", side="sell", intent="sell",
                                                    quantity=D("0.2")))
    assert order.status == "filled" and fake.positions["BTC/USD"][0] == 0


async def test_forex_is_refused(broker: AlpacaBroker, account: Account,
                                fake: FakeAlpaca) -> None:
    with pytest.raises(BrokerRejected) as refused:
        await broker.submit(account, make_order(symbol="EUR/USD"))
    assert refused.value.code == "unsupported_asset" and fake.requests == []


async def test_close_position_sends_a_market_order_with_our_id(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    fake.set_position("AAPL", -5, 190)
    order = await broker.submit(account, make_order(side="sell", intent="exit_short",
                                                    quantity=D(1), close_position=True))

    body = sent(fake)
    assert (body["side"], D(str(body["qty"])), body["type"]) == ("buy", 5, "market")
    assert body["client_order_id"] == COID
    assert order.status == "filled" and fake.positions["AAPL"][0] == 0
    assert not any(r.startswith("DELETE /v2/positions") for r in fake.requests)


async def test_close_crypto_position_looks_it_up_as_alpaca_spells_it(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    fake.set_position("BTC/USD", "0.125", 50000)
    await broker.submit(account, make_order(symbol="BTC/USD", side="sell", intent="exit_long",
                                            close_position=True))

    body = sent(fake)
    assert (body["side"], D(str(body["qty"])), body["time_in_force"]) == ("sell", D("0.125"),
                                                                          "gtc")
    assert "GET /v2/positions/BTCUSD" in fake.requests


async def test_close_position_when_flat_is_refused(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    with pytest.raises(BrokerRejected) as refused:
        await broker.submit(account, make_order(side="sell", intent="exit_long",
                                                close_position=True))
    assert refused.value.code == "no_position" and fake.count(POST) == 0


async def test_flip_closes_first_under_its_own_id_then_opens(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    fake.set_position("AAPL", 10, 180)
    order = await broker.submit(account, make_order(side="sell", intent="enter_short",
                                                    quantity=D(25), close_quantity=D(10)))

    assert fake.submitted_client_order_ids == [f"{COID}-close", COID]
    assert [D(str(b["qty"])) for b in fake.order_requests] == [10, 15]
    assert fake.positions["AAPL"][0] == -15
    # Reported as one fill of the whole flip, so the ledger sees all 25 traded.
    assert (order.status, order.quantity, order.close_quantity) == ("filled", 25, 10)
    assert order.fill is not None and order.fill.quantity == 25
    assert await broker.find_order(account, COID) == order


async def test_snapshot_signs_short_positions(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    fake.set_position("AAPL", 10, 150)
    fake.set_position("TSLA", -3, 250)
    fake.set_position("BTC/USD", "0.5", 50000)
    fake.set_price("TSLA", 240)

    snapshot = await broker.snapshot(account)

    assert snapshot.positions == {"AAPL": 10, "TSLA": -3, "BTC/USD": D("0.5")}
    assert snapshot.last_prices == {"AAPL": D("187.5"), "TSLA": 240, "BTC/USD": 60000}
    assert snapshot.cash == 100_000
    assert snapshot.equity == 100_000 + 10 * D("187.5") - 3 * 240 + 30_000


async def test_open_orders_and_cancel(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    for n in (1, 2):
        await broker.submit(account, make_order(client_order_id=f"rest-{n}", order_type="limit",
                                                limit_price=D(150 + n)))
    await broker.submit(account, make_order(client_order_id="done"))

    assert {o.client_order_id for o in await broker.open_orders(account)} == {"rest-1", "rest-2"}
    canceled = await broker.cancel_order(account, "rest-1")
    assert canceled is not None and (canceled.status, canceled.fill) == ("canceled", None)
    assert [o.client_order_id for o in await broker.open_orders(account)] == ["rest-2"]
    assert await broker.cancel_order(account, "unknown") is None
    filled = await broker.cancel_order(account, "done")
    assert filled is not None and filled.status == "filled"
    assert sum(r.startswith("DELETE /v2/orders/") for r in fake.requests) == 1


async def test_find_order_of_an_unknown_id_is_none(
        broker: AlpacaBroker, account: Account) -> None:
    assert await broker.find_order(account, "never-placed") is None


# -- the guarantees: one order per client_order_id, refusals, outages --------------


async def test_resubmitting_returns_the_first_order(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    first = await broker.submit(account, make_order())
    again = await broker.submit(account, make_order(quantity=D(99)))

    assert again == first and fake.count(POST) == 1


async def test_429_twice_then_success_places_one_order_quickly(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    fake.fail_next(POST, "429", times=2)
    order = await broker.submit(account, make_order())

    assert order.status == "filled" and fake.submitted_client_order_ids == [COID]
    # Our retries only (each looks the order up first): alpaca-py's own 429 retry
    # would have posted again by itself, without the lookups.
    assert fake.requests == [LOOKUP, POST] * 3


async def test_500_is_retried(broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    fake.fail_next(POST, "500")
    order = await broker.submit(account, make_order())

    assert order.status == "filled" and fake.submitted_client_order_ids == [COID]


async def test_timeout_is_retried_and_places_one_order(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    fake.fail_next(POST, "timeout")
    fake.hang_seconds = 3600.0  # without the client's timeout the order would wait an hour
    async with asyncio.timeout(30):  # the 0.3 s client timeout is the behaviour here
        order = await broker.submit(account, make_order())

    assert order.status == "filled" and fake.submitted_client_order_ids == [COID]
    assert fake.requests == [LOOKUP, POST, LOOKUP, POST]


@pytest.mark.parametrize("kind", ["accept_then_drop", "accept_then_timeout"])
async def test_lost_answer_is_found_not_submitted_again(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca, kind: str) -> None:
    fake.fail_next(POST, kind)
    order = await broker.submit(account, make_order())

    assert order.status == "filled" and order.order_id == fake.by_client_id[COID]
    assert fake.submitted_client_order_ids == [COID]
    assert fake.requests == [LOOKUP, POST, LOOKUP]


async def test_duplicate_client_order_id_answer_means_already_placed(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    await broker.submit(account, make_order())
    fake.fail_next(LOOKUP, "404", message="order not found")  # a stale read
    order = await broker.submit(account, make_order())

    assert order.status == "filled" and fake.submitted_client_order_ids == [COID]
    assert fake.requests[-3:] == [LOOKUP, POST, LOOKUP]


@pytest.mark.parametrize(("kind", "status", "message"), [
    ("reject422", 422, "qty must be > 0"),
    ("reject403", 403, "insufficient buying power"),
])
async def test_refusal_is_not_retried_and_keeps_alpacas_message(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca, kind: str, status: int,
        message: str) -> None:
    fake.fail_next(POST, kind, message=message)
    with pytest.raises(BrokerRejected) as refused:
        await broker.submit(account, make_order())

    assert (refused.value.code, refused.value.reason) == (f"alpaca_{status}", message)
    assert fake.count(POST) == 1 and fake.submitted_client_order_ids == []


async def test_alpaca_rule_refusal_comes_back_as_rejected(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    with pytest.raises(BrokerRejected) as refused:
        await broker.submit(account, make_order(quantity=D(10_000)))
    assert (refused.value.code, refused.value.reason) == ("alpaca_403",
                                                          "insufficient buying power")


async def test_persistent_503_gives_up_with_lookups_between_attempts(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    fake.fail_next(POST, "503", times=10)
    with pytest.raises(BrokerUnavailable) as unavailable:
        await broker.submit(account, make_order())

    assert fake.requests == [LOOKUP, POST] * ATTEMPTS
    assert "503" in str(unavailable.value) and fake.submitted_client_order_ids == []


async def test_builtin_429_retry_is_off(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    fake.fail_next("/v2/account", "429", times=10)
    with pytest.raises(BrokerUnavailable):
        await broker.snapshot(account)

    # Our attempts only: alpaca-py's own retry would have asked 3 more times each.
    assert fake.requests == ["GET /v2/account"] * ATTEMPTS


async def test_secrets_never_appear_in_errors_or_logs(
        broker: AlpacaBroker, fake: FakeAlpaca, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = make_account(broker="alpaca", alpaca=AlpacaConfig(
        key_id=KEY_ID, secret_key=SECRET + "-wrong", url_override=fake.url))
    with pytest.raises(BrokerRejected) as refused:
        await broker.submit(wrong, make_order())
    assert refused.value.code == "alpaca_403"

    right = make_account(broker="alpaca", alpaca=AlpacaConfig(
        key_id=KEY_ID, secret_key=SECRET, url_override=fake.url))
    fake.fail_next(POST, "timeout", times=10)
    with pytest.raises(BrokerUnavailable) as unavailable:
        await broker.submit(right, make_order())

    for text in (str(refused.value), repr(refused.value), str(unavailable.value),
                 repr(unavailable.value), caplog.text, repr(right)):
        assert SECRET not in text


async def test_protective_legs_go_to_alpaca_as_one_oco_order(
        broker: AlpacaBroker, account: Account, fake: FakeAlpaca) -> None:
    fake.set_position("AAPL", 10, 187)
    leg = make_order(client_order_id=f"{COID}-tp", side="sell", intent="close",
                     order_type="limit", limit_price=D(200), take_profit_price=D(200),
                     stop_loss_price=D(180), time_in_force="gtc", leg="tp",
                     oco_group=COID, reference_price=None)

    placed = await broker.submit(account, leg)

    body = sent(fake)
    assert (body["order_class"], body["type"], body["client_order_id"]) == (
        "oco", "limit", f"{COID}-tp")
    assert float(body["take_profit"]["limit_price"]) == 200
    assert float(body["stop_loss"]["stop_price"]) == 180
    assert (placed.status, placed.leg) == ("open", "tp")

    fake.set_price("AAPL", "179")  # the stop leg triggers; Alpaca cancels the limit
    filled = await broker.find_order(account, f"{COID}-tp")
    assert filled is not None
    assert (filled.status, filled.leg) == ("filled", "sl")
    assert filled.fill is not None and filled.fill.quantity == 10
    assert filled.fill.client_order_id == f"{COID}-tp"
    assert fake.positions["AAPL"][0] == 0
