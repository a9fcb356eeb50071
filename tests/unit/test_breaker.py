"""The breaker's pure decision: thresholds, one trip per kind, re-arm on edit."""

from __future__ import annotations

from decimal import Decimal as D

from libs.registry.models import BreakerConfig
from services.sltp_monitor.breaker import BreakerState, decide, fingerprint, threshold

CONFIG = BreakerConfig(base_equity=D(100_000), global_sl_pct=D(90), global_tp_pct=D(120))


def test_thresholds_are_percents_of_the_base_equity() -> None:
    assert threshold(CONFIG, "sl") == D(90_000)
    assert threshold(CONFIG, "tp") == D(120_000)
    assert threshold(CONFIG.model_copy(update={"global_tp_pct": None}), "tp") is None
    odd = BreakerConfig(base_equity=D("12345.67"), global_sl_pct=D("87.5"))
    assert threshold(odd, "sl") == D("10802.461250")


def test_nothing_trips_between_the_thresholds() -> None:
    kind, state = decide(CONFIG, BreakerState(), D(95_000))
    assert kind is None
    assert state == BreakerState(fingerprint=fingerprint(CONFIG))


def test_stop_loss_trips_at_the_threshold_and_only_once() -> None:
    kind, state = decide(CONFIG, BreakerState(), D(90_000))
    assert (kind, state.tripped) == ("sl", ["sl"])
    again, state = decide(CONFIG, state, D(80_000))
    assert again is None
    assert state.tripped == ["sl"]


def test_take_profit_trips_independently_of_the_stop_loss() -> None:
    _, state = decide(CONFIG, BreakerState(), D(85_000))
    kind, state = decide(CONFIG, state, D(125_000))
    assert (kind, state.tripped) == ("tp", ["sl", "tp"])


def test_editing_the_configuration_resets_the_thresholds() -> None:
    _, state = decide(CONFIG, BreakerState(), D(85_000))
    edited = CONFIG.model_copy(update={"base_equity": D(85_000)})
    assert decide(edited, state, D(85_000))[0] is None  # 85,000 > 76,500: armed, quiet
    kind, state = decide(edited, state, D(76_000))
    assert (kind, state.tripped) == ("sl", ["sl"])


def test_an_inactive_breaker_never_trips() -> None:
    off = CONFIG.model_copy(update={"active": False})
    assert decide(off, BreakerState(), D(1))[0] is None
