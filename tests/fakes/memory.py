"""In-memory stand-ins for NATS KV, the bus and the registry, so handlers run in a
unit test without a nats-server: the same code paths (compare-and-set, not-found
errors), held in dicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError

from contracts.events import Event
from libs.registry.models import Account, Strategy, Tenant


@dataclass
class Entry:
    """A KV entry as nats-py hands it out."""

    key: str
    value: bytes
    revision: int


class MemoryKV:
    """The part of nats-py's ``KeyValue`` the services use, with its CAS semantics."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.revision = 0

    async def get(self, key: str) -> Entry:
        if key not in self.entries:
            raise KeyNotFoundError
        return self.entries[key]

    async def put(self, key: str, value: bytes) -> int:
        self.revision += 1
        self.entries[key] = Entry(key, value, self.revision)
        return self.revision

    async def create(self, key: str, value: bytes) -> int:
        if key in self.entries:
            raise KeyWrongLastSequenceError
        return await self.put(key, value)

    async def update(self, key: str, value: bytes, last: int | None = None) -> int:
        current = self.entries.get(key)
        if current is None or current.revision != last:
            raise KeyWrongLastSequenceError
        return await self.put(key, value)

    async def delete(self, key: str) -> bool:
        if key not in self.entries:
            raise KeyNotFoundError
        del self.entries[key]
        return True

    async def keys(self) -> list[str]:
        if not self.entries:
            raise NoKeysError
        return list(self.entries)


class MemoryBus:
    """Publishing into a list, with JetStream's de-duplication by message id."""

    def __init__(self) -> None:
        self.published: list[Event] = []
        self.msg_ids: set[str] = set()

    async def publish_event(self, event: Event, msg_id: str) -> bool:
        if msg_id in self.msg_ids:
            return True
        self.msg_ids.add(msg_id)
        self.published.append(event)
        return False

    def take(self) -> list[Event]:
        """What was published since the last call."""
        out, self.published = self.published, []
        return out


@dataclass
class MemoryRegistry:
    """Tenants, accounts and strategies as the pipeline services read them."""

    records: dict[str, Tenant | Account | Strategy] = field(default_factory=dict)

    def add(self, *records: Tenant | Account | Strategy) -> None:
        for record in records:
            self.records[f"{type(record).__name__}.{record.id}"] = record

    async def put(self, record: Tenant | Account | Strategy) -> None:
        self.add(record)

    async def tenant(self, tenant_id: str) -> Tenant | None:
        found = self.records.get(f"Tenant.{tenant_id}")
        return found if isinstance(found, Tenant) else None

    async def account(self, account_id: str) -> Account | None:
        found = self.records.get(f"Account.{account_id}")
        return found if isinstance(found, Account) else None

    async def strategy(self, strategy_id: str) -> Strategy | None:
        found = self.records.get(f"Strategy.{strategy_id}")
        return found if isinstance(found, Strategy) else None

    async def accounts(self) -> list[Account]:
        return [r for r in self.records.values() if isinstance(r, Account)]

    async def strategies(self) -> list[Strategy]:
        return [r for r in self.records.values() if isinstance(r, Strategy)]

    async def tenants(self) -> list[Tenant]:
        return [r for r in self.records.values() if isinstance(r, Tenant)]


class StepClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def kv_buckets(names: Iterable[str]) -> dict[str, MemoryKV]:
    """One empty in-memory bucket per name."""
    return {name: MemoryKV() for name in names}
