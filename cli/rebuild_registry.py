"""``tradehooks rebuild-registry``: the registry rebuilt from the event store alone.

Compares every record the store's events describe with the live registry (NATS KV)
and reports the differences; ``--apply`` writes the rebuilt records (and their
lookup indexes) back, e.g. after the KV bucket was lost. Records that exist only
in KV are reported, never deleted. Records written under older rules (breaker
fractions) are opened under today's, as the live registry does, and each such
migration is printed. API keys are not events and are not rebuilt.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pydantic import BaseModel

from cli.register import registry_connection
from libs.registry.models import RECORD_MODELS, Account, CallbackEndpoint, Record, Strategy, Tenant
from libs.registry.store import Registry, record_key
from libs.registry.upcast import upcast_record
from libs.runtime.config import Settings
from projections.registry import RegistryFold, fold_registry
from projections.store import open_store


@dataclass(frozen=True)
class RegistryDiff:
    """How the live registry compares with the one rebuilt from events."""

    same: list[str]
    differ: list[str]
    missing: list[str]  # in the events, not in KV
    only_live: list[str]  # in KV, not in the events


def _fold(store_url: str) -> RegistryFold:
    store = open_store(store_url)
    try:
        return fold_registry(event for _, event in store.iter_events())
    finally:
        store.close()


def rebuilt_records(fold: RegistryFold, registry: Registry) -> dict[str, BaseModel]:
    """The folded stored forms opened into records (secrets decrypted)."""
    return {key: registry.from_stored_form(data, RECORD_MODELS[key.split(".", 1)[0]])
            for key, data in fold.records.items()}


async def compare(registry: Registry, rebuilt: dict[str, BaseModel]) -> RegistryDiff:
    """Record by record, the rebuilt registry against the live one."""
    records: list[Record] = [*await registry.tenants(), *await registry.accounts(),
                             *await registry.strategies(), *await registry.callbacks()]
    live: dict[str, BaseModel] = {record_key(r): r for r in records}
    same = sorted(k for k, r in rebuilt.items() if k in live and live[k] == r)
    differ = sorted(k for k, r in rebuilt.items() if k in live and live[k] != r)
    missing = sorted(k for k in rebuilt if k not in live)
    return RegistryDiff(same, differ, missing, sorted(k for k in live if k not in rebuilt))


async def rebuild_registry(settings: Settings, apply: bool, explicit_nats: bool) -> int:
    """Print the comparison; with ``apply`` restore what differs or is missing.
    Exit 0 when live and rebuilt agree (or were made to), 1 when they differ."""
    fold = await asyncio.to_thread(_fold, settings.store_url)
    async with registry_connection(settings, explicit_nats, "rebuild-registry") as (_, reg):
        rebuilt = rebuilt_records(fold, reg)
        diff = await compare(reg, rebuilt)
        print(f"rebuilt {len(rebuilt)} record(s) from {fold.applied} event(s): "
              f"{len(diff.same)} same, {len(diff.differ)} differ, "
              f"{len(diff.missing)} missing from the live registry, "
              f"{len(diff.only_live)} only in the live registry")
        for key, data in fold.records.items():
            for note in upcast_record(key.split(".", 1)[0], data)[1]:
                print(f"  migrated as read (older rule): {note}")
        if fold.without_record:
            print(f"{fold.without_record} older registry event(s) carry no record "
                  "and were skipped")
        for label, keys in (("differs", diff.differ), ("missing", diff.missing),
                            ("only live", diff.only_live)):
            for key in keys:
                print(f"  {label}: {key}")
        if not apply:
            return 0 if not (diff.differ or diff.missing) else 1
        for key in diff.differ + diff.missing:
            record = rebuilt[key]
            assert isinstance(record, Tenant | Account | Strategy | CallbackEndpoint)
            await reg.put(record)
        print(f"restored {len(diff.differ) + len(diff.missing)} record(s)")
    return 0
