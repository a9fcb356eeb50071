"""The registry rebuilt from events: the newest record of each key wins, the breaker's
pause is folded in, and secrets stay sealed in the events yet open on rebuild."""

from __future__ import annotations

from decimal import Decimal

from harness import master_box

from contracts.events import (
    AccountUpdated,
    BreakerTripped,
    StrategyUpdated,
    event_from_builtins,
    event_to_builtins,
)
from libs.registry.models import AlpacaConfig, Strategy, Tenant
from libs.registry.store import Registry
from projections.registry import fold_registry
from tests.factories import (
    NOW,
    make_account,
    make_account_opened,
    make_strategy,
    make_strategy_registered,
    make_tenant_created,
)


def _registry() -> Registry:
    return Registry(None, master_box())  # type: ignore[arg-type] # no KV needed to seal


def test_newest_record_of_each_key_wins_and_secrets_stay_sealed_in_events() -> None:
    registry = _registry()
    strategy = make_strategy()
    changed = strategy.model_copy(update={"enabled": False, "percent_of_equity": Decimal(1)})
    events = [
        make_tenant_created(record=registry.stored_form(Tenant(id="acme", name="Acme"))),
        make_strategy_registered(record=registry.stored_form(strategy)),
        StrategyUpdated(event_id="e2", signal_id="strategy:strat-1", tenant_id="acme",
                        occurred_at=NOW, strategy_id=strategy.id, changes={"enabled": False},
                        record=registry.stored_form(changed)),
    ]
    # Through the wire form, as the store keeps them.
    stored = [event_from_builtins(event_to_builtins(e)) for e in events]
    assert strategy.secret not in str([event_to_builtins(e) for e in stored])

    fold = fold_registry(stored)

    assert sorted(fold.records) == ["strategy.strat-1", "tenant.acme"]
    rebuilt = registry.from_stored_form(fold.records["strategy.strat-1"], Strategy)
    assert rebuilt == changed
    assert rebuilt.secret == strategy.secret
    assert fold.applied == 3


def test_breaker_pause_is_folded_into_the_account() -> None:
    registry = _registry()
    account = make_account(alpaca=AlpacaConfig(key_id="k", secret_key="s3cr3t-value"),
                           broker="alpaca")
    trip = BreakerTripped(event_id="t1", signal_id="trip-1", tenant_id="acme",
                          occurred_at=NOW, account_id=account.id, kind="sl",
                          equity=Decimal(80_000), threshold=Decimal(90_000),
                          base_equity=Decimal(100_000), paused=True,
                          reason="stop-loss breaker tripped at equity 80000.00")
    fold = fold_registry([make_account_opened(record=registry.stored_form(account)), trip])

    record = fold.records["account.acc-1"]
    assert record["paused"] is True
    assert record["paused_reason"] == "stop-loss breaker tripped at equity 80000.00"
    assert "s3cr3t-value" not in str(record)
    assert registry.from_stored_form(record, type(account)).alpaca.secret_key == "s3cr3t-value"


def test_a_take_profit_trip_pauses_nothing_and_updates_replace_the_pause() -> None:
    registry = _registry()
    account = make_account()
    resumed_later = account.model_copy(update={"name": "Renamed"})
    tp = BreakerTripped(event_id="t2", signal_id="trip-2", tenant_id="acme", occurred_at=NOW,
                        account_id=account.id, kind="tp", equity=Decimal(130_000),
                        threshold=Decimal(120_000), base_equity=Decimal(100_000))
    update = AccountUpdated(event_id="u1", signal_id="account:acc-1", tenant_id="acme",
                            occurred_at=NOW, account_id=account.id,
                            changes={"name": "Renamed"},
                            record=registry.stored_form(resumed_later))
    fold = fold_registry([make_account_opened(record=registry.stored_form(account)), tp,
                          update])
    assert fold.records["account.acc-1"]["paused"] is False
    assert fold.records["account.acc-1"]["name"] == "Renamed"


def test_events_without_a_record_are_counted_not_guessed() -> None:
    fold = fold_registry([make_tenant_created(), make_strategy_registered()])
    assert fold.records == {}
    assert fold.without_record == 2
