"""Start-up migration of the registry bucket to today's rules (see ``upcast.py``).

``migrate_registry`` runs at start-up (``tradehooks up`` and ``tradehooks demo``):
it rewrites every KV record that an upcaster changes (old breaker fractions become
percents), records each change as a ``registry.account_updated`` event by
``migration`` so the event store agrees, logs every note, and refuses to start when
a stored record breaks today's ranges in a way no rule can carry over.
"""

from __future__ import annotations

import logging

import orjson
from nats.js.errors import KeyWrongLastSequenceError
from pydantic import ValidationError

from contracts import streams
from contracts.events import AccountUpdated
from libs.registry.kv_keys import matching_keys
from libs.registry.models import RECORD_MODELS, Account
from libs.registry.store import Registry
from libs.registry.upcast import BREAKER_UNITS, upcast_record
from libs.registry.views import account_view
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock
from libs.runtime.ids import derived_event_id

log = logging.getLogger(__name__)

MIGRATED_BY = "migration: breaker fractions to percent"


class RegistryMigrationError(Exception):
    """Stored records that break today's ranges; the message names each one."""


async def migrate_registry(bus: Bus, registry: Registry, clock: Clock) -> list[str]:
    """Bring every stored record to today's rules; returns the notes (also logged).

    Raises RegistryMigrationError naming every record that no rule can carry over.
    Safe to run again and from several processes: a migrated record has nothing to
    change, and a record changed meanwhile by another writer is left to it.
    """
    notes: list[str] = []
    refused: list[str] = []
    for kind, model in RECORD_MODELS.items():
        for key in await matching_keys(registry.kv, f"{kind}.*"):
            entry = await registry.kv.get(key)
            if not entry.value:
                continue
            stored = orjson.loads(entry.value)
            upcast, changes = upcast_record(kind, stored)
            try:
                record = registry.from_stored_form(upcast, model)
            except ValidationError as exc:
                refused.extend(_refusals(key, exc))
                continue
            if not changes:
                continue
            assert isinstance(record, Account)
            try:
                await registry.kv.update(key, registry.encode(record), last=entry.revision)
            except KeyWrongLastSequenceError:
                continue  # changed meanwhile: that writer wrote today's form
            await _record_migration(bus, registry, record, changes, clock)
            for note in changes:
                log.warning("registry migration: %s", note)
            notes.extend(changes)
    if refused:
        raise RegistryMigrationError(
            "stored registry records break today's ranges; fix them (tradehooks register "
            "FILE replaces a record by id) and start again:\n  " + "\n  ".join(refused))
    return notes


def _refusals(key: str, exc: ValidationError) -> list[str]:
    out = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        out.append(f"{key}: {field}: {error['msg']}")
    return out


async def _record_migration(bus: Bus, registry: Registry, account: Account,
                            notes: list[str], clock: Clock) -> None:
    """The migrated account as a ``registry.account_updated`` event by ``migration``, so
    the event store (and ``rebuild-registry``) holds what the live registry holds."""
    correlation = f"account:{account.id}"
    stage = f"migrated:{BREAKER_UNITS}"
    event = AccountUpdated(
        event_id=derived_event_id(correlation, stage), signal_id=correlation,
        tenant_id=account.tenant_id, occurred_at=clock.now(), account_id=account.id,
        changes={"breaker": account_view(account)["breaker"]},
        by=MIGRATED_BY, record=registry.stored_form(account))
    await bus.publish_event(event, streams.message_id(correlation, stage))
