"""The registry in NATS KV: every instance of every service reads the same config.

Keys: ``tenant.<id>``, ``account.<id>``, ``strategy.<id>``. Ingress keeps a cache
that a KV watch refreshes, so a change is seen everywhere without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel

from contracts import streams
from contracts.identifiers import ACCOUNT_ID, NAME, SLUG, STRATEGY_ID, TENANT_ID
from contracts.subjects import token as subject_token
from services.registry.kv_keys import matching_keys
from services.registry.models import Account, Record, Strategy, Tenant, kind_of
from services.registry.secrets import lookup_key
from services.registry.upcast import upcast_record
from services.registry.vault import SecretBox, load_box
from services.runtime.bus import Bus
from services.runtime.config import Settings

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
# Where secrets sit in stored records (a path of keys into the JSON).
_SECRET_FIELDS: tuple[tuple[str, ...], ...] = (
    ("secret",), ("previous_secret",), ("alpaca", "secret_key"))


def _index_keys(strategy: Strategy) -> list[str]:
    """Index entries that find a strategy by slug, name and token hash."""
    sid = subject_token(strategy.id)
    keys = [f"idx.slug.{subject_token(strategy.slug)}.{sid}",
            f"idx.name.{subject_token(strategy.name)}.{sid}",
            f"idx.token.{lookup_key(strategy.secret)}"]
    if strategy.previous_secret:
        keys.append(f"idx.token.{lookup_key(strategy.previous_secret)}")
    return keys


def record_key(record: Record) -> str:
    """The KV key of a record: ``tenant.<id>``, ``account.<id>`` or ``strategy.<id>``."""
    return f"{kind_of(record)}.{record.id}"


def _transform(data: dict[str, Any], path: tuple[str, ...], how: Callable[[str], str]) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict) and isinstance(node.get(path[-1]), str):
        node[path[-1]] = how(node[path[-1]])


class Registry:
    """Read and write registry records in one KV bucket; secrets are sealed at rest."""

    def __init__(self, kv: KeyValue, box: SecretBox) -> None:
        self.kv = kv
        self.box = box

    def stored_form(self, record: Tenant | Account | Strategy) -> dict[str, Any]:
        """A record as stored (and carried by registry events): its secrets sealed."""
        data: dict[str, Any] = record.model_dump(mode="json")
        for path in _SECRET_FIELDS:
            _transform(data, path, self.box.seal)
        return data

    def encode(self, record: Tenant | Account | Strategy) -> bytes:
        """The stored bytes of a record, its secrets sealed."""
        return orjson.dumps(self.stored_form(record))

    def decode(self, raw: bytes, model: type[M]) -> M:
        """A record from its stored bytes, its secrets opened."""
        return self.from_stored_form(orjson.loads(raw), model)

    def from_stored_form(self, stored: dict[str, Any], model: type[M]) -> M:
        """A record from its stored form (as registry events carry it), secrets opened."""
        data = copy.deepcopy(stored)
        if model is Account:  # records written under older rules, read under today's
            data, _ = upcast_record("account", data)
        for path in _SECRET_FIELDS:
            _transform(data, path, self.box.open)
        return model.model_validate(data)

    async def _get(self, key: str, model: type[M]) -> M | None:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        return self.decode(entry.value, model)

    async def put(self, record: Tenant | Account | Strategy) -> None:
        """Create or replace a record (and, for strategies, their lookup indexes)."""
        await self.kv.put(record_key(record), self.encode(record))
        if isinstance(record, Strategy):
            for key in _index_keys(record):
                await self.kv.put(key, record.id.encode())

    async def strategies_for(self, slug: str | None, token: str | None,
                             name: str | None) -> list[Strategy]:
        """Strategies found through the indexes by slug, token or name (a few KV reads,
        however many strategies exist)."""
        ids: set[str] = set()
        patterns = []
        # Only well-formed values are looked up: they become parts of KV subjects.
        if SLUG.matches(slug):
            patterns.append(f"idx.slug.{subject_token(str(slug))}.*")
        if NAME.matches(name):
            patterns.append(f"idx.name.{subject_token(str(name))}.*")
        for pattern in patterns:
            keys = await matching_keys(self.kv, pattern)
            ids.update(key.rsplit(".", 1)[-1] for key in keys)
        if token:
            try:
                entry = await self.kv.get(f"idx.token.{lookup_key(token)}")
                if entry.value:
                    ids.add(entry.value.decode())
            except KeyNotFoundError:
                pass
        found = [await self.strategy(sid) for sid in sorted(ids)]
        return [s for s in found if s is not None]

    # Every lookup by id checks the id's shape first: an id becomes part of a KV
    # subject, and one over the server's line limit would close the connection.

    async def tenant(self, tenant_id: str) -> Tenant | None:
        """One tenant, or None."""
        if not TENANT_ID.matches(tenant_id):
            return None
        return await self._get(f"tenant.{tenant_id}", Tenant)

    async def account(self, account_id: str) -> Account | None:
        """One account, or None."""
        if not ACCOUNT_ID.matches(account_id):
            return None
        return await self._get(f"account.{account_id}", Account)

    async def strategy(self, strategy_id: str) -> Strategy | None:
        """One strategy, or None."""
        if not STRATEGY_ID.matches(strategy_id):
            return None
        return await self._get(f"strategy.{strategy_id}", Strategy)

    async def tenants(self) -> list[Tenant]:
        """Every tenant."""
        return await self._all("tenant.", Tenant)

    async def accounts(self) -> list[Account]:
        """Every account of every tenant."""
        return await self._all("account.", Account)

    async def strategies(self) -> list[Strategy]:
        """Every strategy of every tenant."""
        return await self._all("strategy.", Strategy)

    async def _all(self, prefix: str, model: type[M]) -> list[M]:
        out: list[M] = []
        for key in await matching_keys(self.kv, f"{prefix}*"):
            found = await self._get(key, model)
            if found is not None:
                out.append(found)
        return out


class StrategyCache:
    """In-memory strategies (and suspended tenants) for ingress, kept fresh by KV
    watches, so a change is seen on every instance without a restart."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._by_id: dict[str, Strategy] = {}
        self.disabled_tenants: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._token_index: dict[str, Strategy] | None = None
        self._slug_index: dict[str, list[Strategy]] | None = None

    @property
    def by_id(self) -> dict[str, Strategy]:
        """Every known strategy by id; replacing the dict rebuilds the indexes."""
        return self._by_id

    @by_id.setter
    def by_id(self, strategies: dict[str, Strategy]) -> None:
        self._by_id = strategies
        self._changed()

    @property
    def by_token(self) -> dict[str, Strategy]:
        """Strategies indexed by the hash of their secrets (previous ones included);
        rebuilt only after a change."""
        if self._token_index is None:
            index = {lookup_key(s.previous_secret): s for s in self.by_id.values()
                     if s.previous_secret}
            index.update({lookup_key(s.secret): s for s in self.by_id.values()})
            self._token_index = index
        return self._token_index

    def _changed(self) -> None:
        self._token_index = None
        self._slug_index = None

    def with_slug(self, slug: str) -> list[Strategy]:
        """Strategies whose slug matches (slugs are unique per tenant, not globally);
        an index rebuilt only after a change, not a scan per request."""
        if self._slug_index is None:
            index: dict[str, list[Strategy]] = {}
            for strategy in self.by_id.values():
                index.setdefault(strategy.slug, []).append(strategy)
            self._slug_index = index
        return list(self._slug_index.get(slug, ()))

    def at(self, tenant_id: str, slug: str) -> Strategy | None:
        """The strategy of ``/webhook/<tenant>/<slug>``: a slug is unique in its tenant."""
        found = [s for s in self.with_slug(slug) if s.tenant_id == tenant_id]
        return found[0] if found else None

    def with_name(self, name: str) -> list[Strategy]:
        """Strategies whose name, slug or id matches ``name``."""
        return [s for s in self.by_id.values() if name in (s.name, s.slug, s.id)]

    def tenant_active(self, tenant_id: str) -> bool:
        """False once an operator disabled the tenant."""
        return tenant_id not in self.disabled_tenants

    async def start(self) -> None:
        """Load every strategy and tenant, and follow changes."""
        await self.reload()
        self._watch()

    def _watch(self) -> None:
        self._tasks = [asyncio.create_task(self._follow("strategy.*", self._on_strategy)),
                       asyncio.create_task(self._follow("tenant.*", self._on_tenant))]

    def on_reconnected(self) -> None:
        """NATS came back: watch again (every current record is delivered anew), in
        case the old watch went deaf across the reconnect."""
        for task in self._tasks:
            task.cancel()
        self._watch()

    async def reload(self) -> None:
        """Read every strategy and tenant from the bucket now."""
        self.by_id = {s.id: s for s in await self.registry.strategies()}
        self.disabled_tenants = {t.id for t in await self.registry.tenants() if not t.active}
        self._changed()

    async def fetch_missing(self, slug: str | None, token: str | None,
                            name: str | None, strategy_id: str | None = None) -> bool:
        """A lookup missed: a strategy registered a moment ago may not have reached the
        watch yet. Read the candidates through the indexes (and by id); True if any was
        found (the watch may have delivered it meanwhile, so the caller should look
        again)."""
        fresh = await self.registry.strategies_for(slug, token, name)
        if strategy_id and strategy_id not in {s.id for s in fresh}:
            by_id = await self.registry.strategy(strategy_id)
            fresh += [by_id] if by_id is not None else []
        for strategy in fresh:
            self.by_id[strategy.id] = strategy
        if fresh:
            self._changed()
        return bool(fresh)

    def _on_strategy(self, key: str, value: bytes | None) -> None:
        sid = key.removeprefix("strategy.")
        if value is None:
            self.by_id.pop(sid, None)
        else:
            self.by_id[sid] = self.registry.decode(value, Strategy)
        self._changed()

    def _on_tenant(self, key: str, value: bytes | None) -> None:
        tenant_id = key.removeprefix("tenant.")
        if value is None or self.registry.decode(value, Tenant).active:
            self.disabled_tenants.discard(tenant_id)
        else:
            self.disabled_tenants.add(tenant_id)

    async def _follow(self, pattern: str, apply: Callable[[str, bytes | None], None]) -> None:
        while True:
            try:
                watcher = await self.registry.kv.watch(pattern, include_history=False)
                async for entry in watcher:
                    if entry is None:
                        continue
                    deleted = entry.operation is not None or not entry.value
                    apply(entry.key, None if deleted else entry.value)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("registry watch of %s restarted: %r", pattern, exc)
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        """Stop following changes."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def open_registry(bus: Bus, settings: Settings, create_key: bool = False) -> Registry:
    """The registry with the master key of ``settings`` (created only if asked)."""
    return Registry(await bus.kv(streams.BUCKET_REGISTRY), load_box(settings, create_key))

