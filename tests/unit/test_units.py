"""One unit for every percentage (percent), ranges checked, and old breaker fractions
migrated exactly as the old rule read them — never reinterpreted."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from harness import master_box
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cli.rebuild_registry import rebuilt_records
from contracts.market import PriceTick, decode_tick
from libs.registry.models import Account, BreakerConfig
from libs.registry.store import Registry
from libs.registry.upcast import upcast_record
from projections.registry import fold_registry
from services.sltp_monitor.breaker import threshold
from tests.factories import NOW, make_account, make_account_opened, make_strategy


def _refused(build: Any, **fields: Any) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        build(**fields)
    error = caught.value.errors()[0]
    return ".".join(str(p) for p in error["loc"]), error["msg"]


@pytest.mark.parametrize(("field", "value", "unit"), [
    ("sl_pct", "-1", "percent"), ("sl_pct", "0", "percent"), ("sl_pct", "100", "percent"),
    ("sl_pct", "150", "percent"), ("tp_pct", "0", "percent"), ("tp_pct", "1001", "percent"),
    ("trailing_stop_pct", "100", "percent"), ("percent_of_equity", "0", "percent"),
    ("percent_of_equity", "101", "percent"), ("max_drawdown_pct", "-5", "percent"),
    ("max_order_notional", "-1", "negative"), ("min_order_quantity", "-0.1", "negative"),
    ("daily_order_limit", -1, "negative"), ("max_open_positions", -2, "negative"),
    ("max_leverage", "-1", "negative"), ("fixed_quantity", "0", "greater than 0"),
    ("quantity_step", "0", "greater than 0"), ("tick_size", "-0.01", "greater than 0"),
])
def test_a_strategy_setting_out_of_range_is_refused_naming_field_and_unit(
        field: str, value: object, unit: str) -> None:
    loc, message = _refused(make_strategy, **{field: value})
    assert loc == field
    assert unit in message
    assert str(value) in message


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_settings_are_refused(value: str) -> None:
    assert _refused(make_strategy, sl_pct=value)[0] == "sl_pct"
    assert _refused(make_account, starting_cash=value)[0] == "starting_cash"


@pytest.mark.parametrize(("field", "value"), [
    ("starting_cash", "-1"), ("starting_cash", "1e400"), ("fee_bps", "-1"),
    ("slippage_bps", "10001"),
])
def test_an_account_setting_out_of_range_is_refused(field: str, value: str) -> None:
    assert _refused(make_account, **{field: value})[0] == field


def test_percent_settings_in_range_are_taken_as_percent() -> None:
    strategy = make_strategy(sl_pct="1", tp_pct="2.5", percent_of_equity="100",
                             trailing_stop_pct="0.5", max_drawdown_pct="0")
    assert (strategy.sl_pct, strategy.tp_pct) == (D(1), D("2.5"))


def _breaker(**fields: Any) -> BreakerConfig:
    return BreakerConfig(base_equity=D(100_000), **fields)


def test_breaker_thresholds_are_percents_of_base_equity() -> None:
    config = _breaker(global_sl_pct="90", global_tp_pct="120")
    assert config.units == "percent"
    assert threshold(config, "sl") == D(90_000)
    assert threshold(config, "tp") == D(120_000)


@pytest.mark.parametrize(("fields", "field", "hint"), [
    # Fractions as the old rule wrote them: refused, with the unit in the message.
    ({"global_sl_pct": "0.9"}, "global_sl_pct", "fractions such as 0.8 are not used"),
    ({"global_tp_pct": "1.2"}, "global_tp_pct", "fractions such as 1.2 are not used"),
    # A stop at 100 % trips at once on an untouched account; a take-profit at or
    # below 100 % too. So a stop can never be at or above the take-profit.
    ({"global_sl_pct": "100"}, "global_sl_pct", "below 100"),
    ({"global_sl_pct": "90", "global_tp_pct": "80"}, "global_tp_pct", "above 100"),
    ({"global_sl_pct": "-1"}, "global_sl_pct", "from 1"),
    ({"global_tp_pct": "10001"}, "global_tp_pct", "at most 10000"),
    ({"base_equity": "0"}, "base_equity", "above 0"),
    ({"base_equity": "1e400"}, "base_equity", "below 10^12"),
])
def test_breaker_out_of_range_is_refused_naming_the_field(
        fields: dict[str, str], field: str, hint: str) -> None:
    loc, message = _refused(BreakerConfig, **{"base_equity": "100000", **fields})
    assert loc == field
    assert hint in message


@given(st.decimals(min_value=1, max_value=D("99.99"), places=2),
       st.decimals(min_value=D("100.01"), max_value=10_000, places=2))
def test_every_breaker_in_range_is_accepted_and_its_stop_is_below_its_take_profit(
        sl: D, tp: D) -> None:
    config = _breaker(global_sl_pct=sl, global_tp_pct=tp)
    sl_level, tp_level = threshold(config, "sl"), threshold(config, "tp")
    assert sl_level is not None and tp_level is not None
    assert sl_level < config.base_equity < tp_level


# -- stored records written under the fraction rule ---------------------------------

def _old_account(**breaker: Any) -> dict[str, Any]:
    stored = make_account().model_dump(mode="json")
    stored["breaker"] = {"base_equity": "100000", "liquidate_on_tp": False, "active": True,
                         "global_sl_pct": None, "global_tp_pct": None, **breaker}
    return stored


def test_old_fractions_become_percents_with_a_note_per_value() -> None:
    stored, notes = upcast_record("account", _old_account(global_sl_pct="0.9",
                                                          global_tp_pct="1.25"))
    assert stored["breaker"]["units"] == "percent"
    assert (stored["breaker"]["global_sl_pct"], stored["breaker"]["global_tp_pct"]) == \
        ("90", "125")
    assert notes == ["account acc-1: breaker.global_sl_pct 0.9 (a fraction) is now 90 (percent)",
                     "account acc-1: breaker.global_tp_pct 1.25 (a fraction) is now 125 "
                     "(percent)"]


@pytest.mark.parametrize(("old", "field"), [
    ({"global_sl_pct": "90"}, "global_sl_pct"),  # the old rule read it as 9000 %
    ({"global_sl_pct": "1"}, "global_sl_pct"),  # a stop at 100 %: trips at once
    ({"global_sl_pct": "0.9", "global_tp_pct": "0.95"}, "global_tp_pct"),
    ({"global_tp_pct": "120"}, "global_tp_pct"),
])
def test_old_values_that_cannot_be_carried_over_remove_the_breaker_loudly(
        old: dict[str, str], field: str) -> None:
    stored, notes = upcast_record("account", _old_account(**old))
    assert stored["breaker"] is None
    assert len(notes) == 1
    assert notes[0].startswith(f"account acc-1: breaker removed: {field} {old[field]} was "
                               "stored as a fraction")
    assert f"set breaker.{field} again in percent" in notes[0]


def test_records_under_the_percent_rule_and_other_kinds_are_untouched() -> None:
    current = make_account(breaker=_breaker(global_sl_pct="90")).model_dump(mode="json")
    assert upcast_record("account", current) == (current, [])
    assert upcast_record("account", make_account().model_dump(mode="json"))[1] == []
    strategy = make_strategy().model_dump(mode="json")
    assert upcast_record("strategy", strategy) == (strategy, [])


def test_opening_a_stored_record_applies_the_migration() -> None:
    registry = Registry(None, master_box())  # type: ignore[arg-type] # no KV needed
    account = registry.from_stored_form(_old_account(global_sl_pct="0.95"), Account)
    assert account.breaker is not None
    assert account.breaker.global_sl_pct == D(95)
    assert threshold(account.breaker, "sl") == D(95_000)


@given(st.decimals(min_value=D("0.01"), max_value=D("0.99"), places=4),
       st.decimals(min_value=D("1.0001"), max_value=100, places=4),
       st.decimals(min_value=1, max_value=D("1e9"), places=2))
def test_migration_keeps_every_trip_level_the_old_rule_had(sl: D, tp: D, base: D) -> None:
    stored, _ = upcast_record("account", _old_account(
        base_equity=str(base), global_sl_pct=str(sl), global_tp_pct=str(tp)))
    config = BreakerConfig.model_validate(stored["breaker"])
    assert threshold(config, "sl") == base * sl
    assert threshold(config, "tp") == base * tp


# -- prices ---------------------------------------------------------------------------

@pytest.mark.parametrize("price", ["1e400", "1000000000000", "0", "-1", "NaN", "Infinity"])
def test_a_tick_outside_the_price_range_is_refused_when_decoded(price: str) -> None:
    raw = (b'{"symbol":"AAPL","price":"' + price.encode() +
           b'","observed_at":"2024-05-01T14:30:00Z"}')
    with pytest.raises(Exception, match="price: must be"):
        decode_tick(raw)
    with pytest.raises(ValueError, match="price: must be"):
        PriceTick(symbol="AAPL", price=D(price), observed_at=NOW)


def test_a_tick_just_below_the_bound_is_a_price() -> None:
    assert PriceTick(symbol="X", price=D("999999999999.99"), observed_at=NOW).price > 0


def test_registry_events_written_under_the_fraction_rule_rebuild_as_percents() -> None:
    registry = Registry(None, master_box())  # type: ignore[arg-type] # no KV needed
    old = _old_account(global_sl_pct="0.8", global_tp_pct="1.5")
    fold = fold_registry([make_account_opened(record=old)])
    rebuilt = rebuilt_records(fold, registry)["account.acc-1"]
    assert isinstance(rebuilt, Account) and rebuilt.breaker is not None
    assert (rebuilt.breaker.global_sl_pct, rebuilt.breaker.global_tp_pct) == (D(80), D(150))
