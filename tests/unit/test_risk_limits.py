"""Pre-trade risk limits (pure) and the risk ledger's day roll."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import msgspec
import pytest

from contracts.orders import OrderRequest
from contracts.signals import Signal
from libs.brokers.base import AccountSnapshot
from services.risk.ledger import Reservation, RiskLedger
from services.risk.limits import (
    Exposure,
    check_limits,
    order_notional,
    refusal,
    trading_day,
)
from services.risk.rules import RiskRefusal
from tests.factories import make_order, make_signal, make_snapshot, make_strategy

PRICE = D(100)


def reservation(symbol: str, signed: D | int, notional: D | int,
                signal_id: str = "sig-x") -> Reservation:
    return Reservation(signal_id=signal_id, symbol=symbol, signed_quantity=D(signed),
                       notional=D(notional))


def ledger_with(*reservations: Reservation, today: dict[str, D] | None = None,
                start: D | None = None) -> RiskLedger:
    """A ledger of 2026-11-23 with ``today``'s orders (id → notional) counted."""
    ledger = RiskLedger(day="2026-11-23", day_start_equity=start,
                        pending={f"coid-{i}": r for i, r in enumerate(reservations)})
    for notional in (today or {}).values():
        ledger.count(notional)
    return ledger


def check(*, order: OrderRequest | None = None, signal: Signal | None = None,
          snapshot: AccountSnapshot | None = None, ledger: RiskLedger | None = None,
          price: D = PRICE, **limits: Any) -> RiskRefusal | None:
    """check_limits with a no-limit strategy plus ``limits`` (max_order_notional off)."""
    strategy = make_strategy(**{"max_order_notional": None, **limits})
    ledger = ledger if ledger is not None else RiskLedger()
    snapshot = snapshot if snapshot is not None else make_snapshot()
    return check_limits(signal or make_signal(), order or make_order(), strategy,
                        Exposure.of(snapshot, ledger), ledger, price)


def assert_refused(result: RiskRefusal | None, rule: str, limit: str, value: str) -> None:
    assert isinstance(result, RiskRefusal), result
    assert result.code == rule
    assert result.details == {"rule": rule, "limit": limit, "value": value}
    assert result.reason


def buy(quantity: D | int | str, **fields: Any) -> OrderRequest:
    return make_order(side="buy", quantity=D(quantity), **fields)


def sell(quantity: D | int | str, **fields: Any) -> OrderRequest:
    return make_order(side="sell", quantity=D(quantity), intent="enter_short", **fields)


# --- trading_day --------------------------------------------------------------------


@pytest.mark.parametrize(("now", "zone", "day"), [
    (datetime(2026, 11, 23, 23, 30, tzinfo=UTC), "Europe/Berlin", "2026-11-24"),
    (datetime(2026, 11, 23, 23, 30, tzinfo=UTC), "America/New_York", "2026-11-23"),
    (datetime(2026, 11, 23, 23, 30, tzinfo=UTC), "UTC", "2026-11-23"),
    (datetime(2026, 11, 24, 4, 59, tzinfo=UTC), "America/New_York", "2026-11-23"),
    (datetime(2026, 11, 24, 5, 0, tzinfo=UTC), "America/New_York", "2026-11-24"),
    # Summer time: Berlin is UTC+2, midnight is 22:00Z.
    (datetime(2026, 7, 1, 21, 59, tzinfo=UTC), "Europe/Berlin", "2026-07-01"),
    (datetime(2026, 7, 1, 22, 0, tzinfo=UTC), "Europe/Berlin", "2026-07-02"),
    (datetime(2026, 11, 23, 14, 59, 59, tzinfo=UTC), "Asia/Tokyo", "2026-11-23"),
    (datetime(2026, 11, 23, 15, 0, tzinfo=UTC), "Asia/Tokyo", "2026-11-24"),
])
def test_trading_day_is_the_date_in_the_strategy_zone(now: datetime, zone: str,
                                                       day: str) -> None:
    assert trading_day(now, zone) == day


# --- RiskLedger ---------------------------------------------------------------------


def test_roll_on_a_fresh_ledger_starts_the_day() -> None:
    ledger = RiskLedger()
    ledger.roll("2026-11-23", D(100_000))
    assert (ledger.day, ledger.day_start_equity, ledger.orders_today,
            ledger.notional_today) == ("2026-11-23", D(100_000), 0, D(0))


def test_roll_on_the_same_day_keeps_counters_and_start_equity() -> None:
    ledger = ledger_with(today={"a": D(10), "b": D(20)}, start=D(100_000))
    ledger.roll("2026-11-23", D(90_000))
    assert ledger.day_start_equity == D(100_000)
    assert (ledger.orders_today, ledger.notional_today) == (2, D(30))


def test_roll_on_a_new_day_resets_counters_and_start_equity_but_keeps_pending() -> None:
    pending = reservation("AAPL", 5, 500)
    ledger = ledger_with(pending, today={"a": D(10)}, start=D(100_000))
    ledger.roll("2026-11-24", D(90_000))
    assert (ledger.day, ledger.day_start_equity, ledger.orders_today,
            ledger.notional_today) == ("2026-11-24", D(90_000), 0, D(0))
    assert list(ledger.pending.values()) == [pending]


def test_ledgers_do_not_share_their_default_dicts() -> None:
    first, second = RiskLedger(), RiskLedger()
    first.pending["a"] = reservation("AAPL", 1, 100)
    assert second.pending == {}


def test_a_ledger_written_with_every_order_of_the_day_reads_as_counters() -> None:
    # Ledgers written before the counters listed each order (and refusal) of the day.
    old = msgspec.json.encode({"day": "2026-11-23", "day_start_equity": "1000",
                               "today": {"a": "10", "b": "20.5"},
                               "refused": {"c": {"code": "paused", "reason": "r"}}})
    ledger = msgspec.json.decode(old, type=RiskLedger)
    assert (ledger.orders_today, ledger.notional_today) == (2, D("30.5"))
    assert ledger.refused["c"].code == "paused"
    ledger.roll("2026-11-24", D(900))
    assert (ledger.today, ledger.refused, ledger.orders_today) == ({}, {}, 0)


def test_pending_quantity_sums_the_signed_reservations_of_one_symbol() -> None:
    ledger = ledger_with(reservation("AAPL", 5, 500), reservation("AAPL", -2, 200),
                         reservation("MSFT", 7, 700))
    assert ledger.pending_quantity("AAPL") == D(3)
    assert ledger.pending_quantity("MSFT") == D(7)
    assert ledger.pending_quantity("TSLA") == D(0)


# --- refusal, order_notional, Exposure ------------------------------------------------


def test_refusal_reports_rule_limit_and_value_as_strings() -> None:
    found = refusal("max_leverage", "too much", D("2.5"), "3.10")
    assert found == RiskRefusal("max_leverage", "too much",
                                {"rule": "max_leverage", "limit": "2.5", "value": "3.10"})


def test_order_notional_is_quantity_times_price() -> None:
    assert order_notional(buy("2.5"), D(40)) == D(100)


def test_order_notional_of_a_notional_order_is_its_dollar_amount() -> None:
    assert order_notional(buy("3.3333", notional=D(500)), D(151)) == D(500)


def test_exposure_adds_pending_reservations_to_broker_positions() -> None:
    snapshot = make_snapshot(positions={"AAPL": D(10), "MSFT": D(-5)},
                             last_prices={"AAPL": D(100), "MSFT": D(200)},
                             equity=D(50_000))
    ledger = ledger_with(reservation("AAPL", 5, 600), reservation("TSLA", -4, 1000),
                         reservation("MSFT", 5, 1000))
    exposure = Exposure.of(snapshot, ledger)
    # MSFT nets to zero and is dropped; TSLA is priced from its reservation (1000 / 4).
    assert exposure.positions == {"AAPL": D(15), "TSLA": D(-4)}
    assert exposure.prices == {"AAPL": D(100), "MSFT": D(200), "TSLA": D(250)}
    assert exposure.equity == D(50_000)
    assert exposure.gross() == D(15 * 100 + 4 * 250)


def test_exposure_prefers_the_snapshot_price_over_a_reservation_price() -> None:
    snapshot = make_snapshot(last_prices={"AAPL": D(100)})
    exposure = Exposure.of(snapshot, ledger_with(reservation("AAPL", 10, 3000)))
    assert exposure.prices["AAPL"] == D(100)
    assert exposure.gross() == D(1000)


def test_exposure_does_not_change_the_snapshot() -> None:
    snapshot = make_snapshot(positions={"AAPL": D(10)}, last_prices={"AAPL": D(100)})
    Exposure.of(snapshot, ledger_with(reservation("AAPL", 5, 500),
                                      reservation("TSLA", 1, 90)))
    assert snapshot.positions == {"AAPL": D(10)}
    assert snapshot.last_prices == {"AAPL": D(100)}


def test_gross_is_the_sum_of_absolute_values_and_unpriced_positions_count_zero() -> None:
    exposure = Exposure(positions={"AAPL": D(10), "MSFT": D(-5), "TSLA": D(3)},
                        prices={"AAPL": D(100), "MSFT": D(200)}, equity=D(1))
    assert exposure.gross() == D(2000)
    assert Exposure(positions={}, prices={}, equity=D(1)).gross() == D(0)


# --- no limits, exits ---------------------------------------------------------------


def test_a_strategy_without_limits_passes_any_entry() -> None:
    assert check(order=buy(1_000_000)) is None


def test_exits_pass_every_limit() -> None:
    snapshot = make_snapshot(positions={"MSFT": D(500), "TSLA": D(1), "NVDA": D(1)},
                             last_prices={"MSFT": D(400)}, equity=D(1000))
    ledger = ledger_with(reservation("MSFT", 100, 40_000),
                         today={"a": D(900_000), "b": D(1)}, start=D(100_000))
    exit_order = make_order(symbol="MSFT", side="sell", quantity=D(500), intent="exit_long",
                            close_position=True)
    assert check(
        order=exit_order, signal=make_signal(symbol="MSFT", intent="exit_long"),
        snapshot=snapshot, ledger=ledger, price=D(400),
        allowed_symbols=["AAPL"], require_stop_loss=True,
        min_order_quantity=D(10_000), min_order_notional=D(10_000_000),
        max_position_quantity=D(1), max_position_notional=D(1),
        daily_notional_limit=D(1), daily_order_limit=1, max_open_positions=1,
        max_leverage=D("0.01"), max_drawdown_pct=D(1),
    ) is None


# --- allowed_symbols ----------------------------------------------------------------


def test_allowed_symbols_pass_a_listed_symbol_in_any_case() -> None:
    assert check(allowed_symbols=["TSLA", "AAPL"]) is None
    assert check(allowed_symbols=["aapl"]) is None


def test_allowed_symbols_refuse_an_unlisted_symbol() -> None:
    found = check(order=make_order(symbol="MSFT"), allowed_symbols=["AAPL", "TSLA"])
    assert_refused(found, "allowed_symbols", "AAPL,TSLA", "MSFT")


# --- require_stop_loss --------------------------------------------------------------


def test_require_stop_loss_passes_an_entry_with_a_stop() -> None:
    assert check(signal=make_signal(stop_loss=D(140)), require_stop_loss=True) is None


def test_require_stop_loss_refuses_an_entry_without_a_stop() -> None:
    assert_refused(check(require_stop_loss=True), "require_stop_loss", "True", "None")


def test_no_stop_is_fine_when_not_required() -> None:
    assert check(require_stop_loss=False) is None


# --- min_order_quantity / min_order_notional ----------------------------------------


def test_min_order_quantity_passes_exactly_at_the_minimum() -> None:
    assert check(order=buy(10), min_order_quantity=D(10)) is None


def test_min_order_quantity_refuses_just_below() -> None:
    found = check(order=buy("9.9999"), min_order_quantity=D(10))
    assert_refused(found, "min_order_quantity", "10", "9.9999")


def test_min_order_notional_passes_exactly_at_the_minimum() -> None:
    assert check(order=buy(10), price=D(100), min_order_notional=D(1000)) is None


def test_min_order_notional_refuses_just_below() -> None:
    found = check(order=buy(10), price=D("99.99"), min_order_notional=D(1000))
    assert_refused(found, "min_order_notional", "1000", "999.90")


def test_min_order_notional_of_a_notional_order_uses_its_dollar_amount() -> None:
    order = buy("12.3456", notional=D("1234.56"))
    assert check(order=order, price=D(1), min_order_notional=D("1234.56")) is None
    found = check(order=order, price=D(1000), min_order_notional=D("1234.57"))
    assert_refused(found, "min_order_notional", "1234.57", "1234.56")


# --- daily_order_limit / daily_notional_limit ---------------------------------------


def test_daily_order_limit_passes_the_last_allowed_order() -> None:
    ledger = ledger_with(today={"a": D(1), "b": D(1)})
    assert check(ledger=ledger, daily_order_limit=3) is None


def test_daily_order_limit_refuses_one_order_too_many() -> None:
    ledger = ledger_with(today={"a": D(1), "b": D(1), "c": D(1)})
    assert_refused(check(ledger=ledger, daily_order_limit=3), "daily_order_limit", "3", "4")


def test_daily_order_limit_counts_today_not_pending_orders() -> None:
    ledger = ledger_with(*(reservation("MSFT", 1, 1) for _ in range(5)))
    assert check(ledger=ledger, daily_order_limit=1) is None


def test_daily_notional_limit_passes_exactly_at_the_limit() -> None:
    ledger = ledger_with(today={"a": D(1500), "b": D(2500)})
    assert check(order=buy(10), price=D(100), ledger=ledger,
                 daily_notional_limit=D(5000)) is None


def test_daily_notional_limit_refuses_just_past() -> None:
    ledger = ledger_with(today={"a": D(1500), "b": D("2500.01")})
    found = check(order=buy(10), price=D(100), ledger=ledger, daily_notional_limit=D(5000))
    assert_refused(found, "daily_notional_limit", "5000", "5000.01")


def test_daily_notional_limit_counts_today_not_pending_orders() -> None:
    ledger = ledger_with(reservation("MSFT", 100, 100_000))
    assert check(order=buy(10), price=D(100), ledger=ledger,
                 daily_notional_limit=D(1000)) is None


def test_daily_notional_limit_of_a_notional_order_uses_its_dollar_amount() -> None:
    ledger = ledger_with(today={"a": D(500)})
    order = buy("5.0001", notional=D(500))
    assert check(order=order, price=D(300), ledger=ledger,
                 daily_notional_limit=D(1000)) is None
    found = check(order=order, price=D(1), ledger=ledger, daily_notional_limit=D("999.99"))
    assert_refused(found, "daily_notional_limit", "999.99", "1000.00")


# --- max_drawdown_pct ---------------------------------------------------------------


def test_drawdown_passes_just_under_the_limit() -> None:
    ledger = ledger_with(start=D(100_000))
    snapshot = make_snapshot(equity=D("95000.01"))
    assert check(ledger=ledger, snapshot=snapshot, max_drawdown_pct=D(5)) is None


def test_reaching_the_maximum_drawdown_stops_new_entries() -> None:
    # Unlike size limits, the drawdown limit trips when it is reached.
    ledger = ledger_with(start=D(100_000))
    snapshot = make_snapshot(equity=D(95_000))
    found = check(ledger=ledger, snapshot=snapshot, max_drawdown_pct=D(5))
    assert_refused(found, "max_drawdown_pct", "5", "5.00")


def test_drawdown_just_below_the_limit_passes() -> None:
    ledger = ledger_with(start=D(100_000))
    snapshot = make_snapshot(equity=D(95_010))
    assert check(ledger=ledger, snapshot=snapshot, max_drawdown_pct=D(5)) is None


def test_drawdown_refuses_just_past_the_limit() -> None:
    ledger = ledger_with(start=D(100_000))
    snapshot = make_snapshot(equity=D(94_990))
    found = check(ledger=ledger, snapshot=snapshot, max_drawdown_pct=D(5))
    assert_refused(found, "max_drawdown_pct", "5", "5.01")


def test_drawdown_is_measured_from_the_day_start_equity() -> None:
    # 10 % down from 100 000, but only 5 % below 95 000 (not the day's start).
    snapshot = make_snapshot(equity=D(90_000), cash=D(90_000))
    found = check(ledger=ledger_with(start=D(100_000)), snapshot=snapshot,
                  max_drawdown_pct=D("9.99"))
    assert_refused(found, "max_drawdown_pct", "9.99", "10.00")
    assert check(ledger=ledger_with(start=D(90_000)), snapshot=snapshot,
                 max_drawdown_pct=D("0.01")) is None


def test_a_gain_is_no_drawdown() -> None:
    ledger = ledger_with(start=D(100_000))
    snapshot = make_snapshot(equity=D(120_000))
    assert check(ledger=ledger, snapshot=snapshot, max_drawdown_pct=D(0)) is None


@pytest.mark.parametrize("start", [None, D(0)])
def test_drawdown_has_no_limit_without_a_start_equity(start: D | None) -> None:
    snapshot = make_snapshot(equity=D(1))
    assert check(ledger=ledger_with(start=start), snapshot=snapshot,
                 max_drawdown_pct=D(1)) is None


# --- max_position_quantity ----------------------------------------------------------


def test_position_quantity_passes_exactly_at_the_maximum() -> None:
    snapshot = make_snapshot(positions={"AAPL": D(10)})
    assert check(order=buy(10), snapshot=snapshot, max_position_quantity=D(20)) is None


def test_position_quantity_refuses_just_past() -> None:
    snapshot = make_snapshot(positions={"AAPL": D(10)})
    found = check(order=buy("10.0001"), snapshot=snapshot, max_position_quantity=D(20))
    assert_refused(found, "max_position_quantity", "20", "20.0001")


def test_position_quantity_of_a_short_is_its_absolute_size() -> None:
    snapshot = make_snapshot(positions={"AAPL": D(-10)})
    assert check(order=sell(10), snapshot=snapshot, max_position_quantity=D(20)) is None
    found = check(order=sell(11), snapshot=snapshot, max_position_quantity=D(20))
    assert_refused(found, "max_position_quantity", "20", "21")


def test_position_quantity_of_a_flip_counts_only_the_opening_part() -> None:
    # Long 10, sell 35 (10 close + 25 open): the position becomes -25.
    snapshot = make_snapshot(positions={"AAPL": D(10)})
    flip = sell(35, close_quantity=D(10))
    assert check(order=flip, snapshot=snapshot, max_position_quantity=D(25)) is None
    found = check(order=sell(36, close_quantity=D(10)), snapshot=snapshot,
                  max_position_quantity=D(25))
    assert_refused(found, "max_position_quantity", "25", "26")


def test_position_quantity_counts_pending_reservations() -> None:
    ledger = ledger_with(reservation("AAPL", 15, 1500))
    assert check(order=buy(5), ledger=ledger, max_position_quantity=D(20)) is None
    found = check(order=buy(6), ledger=ledger, max_position_quantity=D(20))
    assert_refused(found, "max_position_quantity", "20", "21")


def test_position_quantity_ignores_other_symbols() -> None:
    snapshot = make_snapshot(positions={"MSFT": D(1000)})
    ledger = ledger_with(reservation("TSLA", 1000, 1000))
    assert check(order=buy(20), snapshot=snapshot, ledger=ledger,
                 max_position_quantity=D(20)) is None


# --- max_position_notional ----------------------------------------------------------


def test_position_notional_passes_exactly_at_the_maximum() -> None:
    snapshot = make_snapshot(positions={"AAPL": D(10)})
    assert check(order=buy(10), price=D(100), snapshot=snapshot,
                 max_position_notional=D(2000)) is None


def test_position_notional_refuses_just_past() -> None:
    snapshot = make_snapshot(positions={"AAPL": D(10)})
    found = check(order=buy("10.01"), price=D(100), snapshot=snapshot,
                  max_position_notional=D(2000))
    assert_refused(found, "max_position_notional", "2000", "2001.00")


def test_position_notional_of_a_flip_counts_only_the_opening_part() -> None:
    snapshot = make_snapshot(positions={"AAPL": D(10)})
    assert check(order=sell(30, close_quantity=D(10)), price=D(100), snapshot=snapshot,
                 max_position_notional=D(2000)) is None
    found = check(order=sell("30.01", close_quantity=D(10)), price=D(100),
                  snapshot=snapshot, max_position_notional=D(2000))
    assert_refused(found, "max_position_notional", "2000", "2001.00")


def test_position_notional_counts_pending_reservations() -> None:
    ledger = ledger_with(reservation("AAPL", -10, 1000))
    found = check(order=sell("10.01"), price=D(100), ledger=ledger,
                  max_position_notional=D(2000))
    assert_refused(found, "max_position_notional", "2000", "2001.00")


# --- max_open_positions -------------------------------------------------------------


def test_open_positions_passes_the_last_allowed_new_symbol() -> None:
    snapshot = make_snapshot(positions={"MSFT": D(5), "TSLA": D(-3)})
    assert check(snapshot=snapshot, max_open_positions=3) is None


def test_open_positions_refuses_one_symbol_too_many() -> None:
    snapshot = make_snapshot(positions={"MSFT": D(5), "TSLA": D(-3)})
    assert_refused(check(snapshot=snapshot, max_open_positions=2),
                   "max_open_positions", "2", "3")


def test_open_positions_allows_adding_to_a_held_symbol() -> None:
    snapshot = make_snapshot(positions={"AAPL": D(10), "MSFT": D(5)})
    assert check(order=buy(10), snapshot=snapshot, max_open_positions=2) is None


def test_open_positions_allows_a_flip_of_a_held_symbol() -> None:
    snapshot = make_snapshot(positions={"AAPL": D(10), "MSFT": D(5)})
    assert check(order=sell(15, close_quantity=D(10)), snapshot=snapshot,
                 max_open_positions=2) is None


def test_open_positions_counts_pending_reservations_of_new_symbols() -> None:
    snapshot = make_snapshot(positions={"MSFT": D(5)})
    ledger = ledger_with(reservation("TSLA", 5, 1000))
    assert_refused(check(snapshot=snapshot, ledger=ledger, max_open_positions=2),
                   "max_open_positions", "2", "3")


def test_open_positions_treats_a_pending_entry_in_the_symbol_as_held() -> None:
    snapshot = make_snapshot(positions={"MSFT": D(5)})
    ledger = ledger_with(reservation("AAPL", 5, 500))
    assert check(snapshot=snapshot, ledger=ledger, max_open_positions=2) is None


def test_open_positions_frees_a_slot_for_a_pending_close() -> None:
    snapshot = make_snapshot(positions={"MSFT": D(5), "TSLA": D(3)})
    ledger = ledger_with(reservation("TSLA", -3, 300))
    assert check(snapshot=snapshot, ledger=ledger, max_open_positions=2) is None


def test_open_positions_ignores_flat_symbols_in_the_snapshot() -> None:
    snapshot = make_snapshot(positions={"MSFT": D(0), "TSLA": D(3)})
    assert check(snapshot=snapshot, max_open_positions=2) is None


# --- max_leverage -------------------------------------------------------------------


def leveraged(**fields: Any) -> AccountSnapshot:
    """10 000 equity, short 50 MSFT at 200 (gross 10 000, 1.0x)."""
    return make_snapshot(equity=D(10_000), cash=D(20_000), positions={"MSFT": D(-50)},
                         last_prices={"MSFT": D(200)}, **fields)


def test_leverage_passes_exactly_at_the_maximum() -> None:
    assert check(order=buy(100), price=D(100), snapshot=leveraged(),
                 max_leverage=D(2)) is None


def test_leverage_refuses_just_past() -> None:
    found = check(order=buy(101), price=D(100), snapshot=leveraged(), max_leverage=D(2))
    assert_refused(found, "max_leverage", "2", "2.01")
    assert check(order=buy("100.01"), price=D(100), snapshot=leveraged(),
                 max_leverage=D(2)) is not None


def test_leverage_of_a_flip_counts_the_position_after_it() -> None:
    # Long 100 AAPL at 100 on 10 000 equity (1.0x); selling 200 leaves short 100.
    snapshot = make_snapshot(equity=D(10_000), positions={"AAPL": D(100)},
                             last_prices={"AAPL": D(100)})
    assert check(order=sell(200, close_quantity=D(100)), price=D(100), snapshot=snapshot,
                 max_leverage=D(1)) is None
    found = check(order=sell(201, close_quantity=D(100)), price=D(100), snapshot=snapshot,
                  max_leverage=D(1))
    assert_refused(found, "max_leverage", "1", "1.01")


def test_leverage_counts_pending_reservations_at_their_price() -> None:
    # TSLA has no last price: its reservation prices it at 10 000 / 50 = 200.
    snapshot = make_snapshot(equity=D(10_000))
    ledger = ledger_with(reservation("TSLA", 50, 10_000))
    assert check(order=buy(100), price=D(100), snapshot=snapshot, ledger=ledger,
                 max_leverage=D(2)) is None
    found = check(order=buy(101), price=D(100), snapshot=snapshot, ledger=ledger,
                  max_leverage=D(2))
    assert_refused(found, "max_leverage", "2", "2.01")


def test_leverage_values_a_reservation_at_the_snapshot_price_when_known() -> None:
    snapshot = make_snapshot(equity=D(10_000), last_prices={"TSLA": D(300)})
    ledger = ledger_with(reservation("TSLA", 50, 10_000))
    found = check(order=buy(100), price=D(100), snapshot=snapshot, ledger=ledger,
                  max_leverage=D(2))
    assert_refused(found, "max_leverage", "2", "2.50")


def test_leverage_values_a_held_position_without_a_known_price_at_the_order_price() -> None:
    # Long 100 AAPL, no last price; buying 1 more at 100 makes 10 100 gross on 10 000.
    snapshot = make_snapshot(equity=D(10_000), positions={"AAPL": D(100)})
    found = check(order=buy(1), price=D(100), snapshot=snapshot, max_leverage=D(1))
    assert_refused(found, "max_leverage", "1", "1.01")


def test_leverage_limit_refuses_entries_when_equity_is_not_positive() -> None:
    snapshot = make_snapshot(equity=D(-500))
    found = check(order=buy(1), price=D(100), snapshot=snapshot, max_leverage=D(1))
    assert_refused(found, "max_leverage", "1", "unbounded")
