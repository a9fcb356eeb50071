"""The start-up migration on a real KV bucket: old breaker fractions are rewritten as
percents and recorded as an event; records that break today's ranges stop the start."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from harness import EventTap, master_box

from cli.rebuild_registry import rebuilt_records
from contracts import streams
from contracts.events import AccountUpdated
from libs.registry.migrations import (
    MIGRATED_BY,
    RegistryMigrationError,
    migrate_registry,
)
from libs.registry.models import Account
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from projections.registry import fold_registry
from tests.factories import make_account, make_strategy


def _fraction_breaker(account_id: str, **breaker: str) -> bytes:
    stored = make_account(id=account_id).model_dump(mode="json")
    stored["breaker"] = {"base_equity": "100000", "liquidate_on_tp": False, "active": True,
                         **breaker}
    return orjson.dumps(stored)


async def test_old_fractions_are_rewritten_as_percents_once_and_recorded(
        bus: Bus, tap: EventTap) -> None:
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    await registry.kv.put("account.old", _fraction_breaker("old", global_sl_pct="0.9",
                                                           global_tp_pct="1.2"))
    await registry.kv.put("account.bad", _fraction_breaker("bad", global_sl_pct="90"))
    await registry.put(make_account(id="new"))

    notes = await migrate_registry(bus, registry, SystemClock())

    assert sorted(notes)[0].startswith("account bad: breaker removed: global_sl_pct 90")
    stored = orjson.loads((await registry.kv.get("account.old")).value)
    assert stored["breaker"]["units"] == "percent"
    assert (stored["breaker"]["global_sl_pct"], stored["breaker"]["global_tp_pct"]) == \
        ("90", "120")
    assert orjson.loads((await registry.kv.get("account.bad")).value)["breaker"] is None
    old = await registry.account("old")
    assert old is not None and old.breaker is not None
    assert old.breaker.global_sl_pct == Decimal(90)

    def migrated(evs: list[object]) -> list[AccountUpdated]:
        found = [e for e in evs if isinstance(e, AccountUpdated) and e.by == MIGRATED_BY]
        return found if len(found) == 2 else []

    events = await tap.wait_for(migrated)
    assert sorted(e.account_id for e in events) == ["bad", "old"]
    # The event store rebuilds what the bucket now holds.
    rebuilt = rebuilt_records(fold_registry(events), registry)
    assert rebuilt["account.old"] == old
    # A second start has nothing to migrate.
    assert await migrate_registry(bus, registry, SystemClock()) == []


async def test_a_record_breaking_todays_ranges_refuses_the_start_naming_it(bus: Bus) -> None:
    registry = Registry(await bus.kv(streams.BUCKET_REGISTRY), master_box())
    stored = registry.stored_form(make_strategy(id="s-neg"))
    stored["max_order_notional"] = "-5"
    await registry.kv.put("strategy.s-neg", orjson.dumps(stored))
    await registry.put(make_account(id="fine"))
    with pytest.raises(RegistryMigrationError) as caught:
        await migrate_registry(bus, registry, SystemClock())
    assert "strategy.s-neg: max_order_notional: must not be negative, got -5" in str(caught.value)
    assert isinstance(await registry.account("fine"), Account)
