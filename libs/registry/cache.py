"""The registry read from memory: one watched copy for every service.

Every message makes the validator, risk, executor and monitor read a strategy and an
account (and a tenant): from KV that is two or three round trips per stage. Here
reads come from memory, kept current by one watch of the registry bucket, so a
change made anywhere is seen within milliseconds. A record not in memory yet
(created a moment ago) is read from KV. After a NATS reconnect the watch is started
again, which delivers every record anew: a watch that went deaf cannot leave a
disabled strategy trading.

Ingress finds a webhook's strategy through :class:`StrategyCache`: indexes by token
hash, slug and name on top of the same copy, rebuilt only after it changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import nats.errors
from nats.js.kv import KeyValue
from pydantic import BaseModel

from contracts import streams
from libs.registry.models import RECORD_MODELS, Record, Strategy, Tenant
from libs.registry.secrets import lookup_key
from libs.registry.store import M, Registry, record_key
from libs.registry.vault import SecretBox, load_box
from libs.runtime.bus import Bus
from libs.runtime.config import Settings
from libs.runtime.timers import stopped_within

log = logging.getLogger(__name__)
# How long the first load may take before the service gives up starting.
LOAD_TIMEOUT_S = 30.0


class CachedRegistry(Registry):
    """A :class:`Registry` whose reads are served from a watched copy in memory.

    It is also a runnable: :meth:`run` follows changes until the service stops.
    """

    def __init__(self, kv: KeyValue, box: SecretBox) -> None:
        super().__init__(kv, box)
        self._records: dict[str, BaseModel] = {}
        self._watcher: Any = None
        self._rewatch = asyncio.Event()
        # Bumped on every change of the copy: indexes built on it know when to rebuild.
        self.version = 0

    async def load(self) -> None:
        """Start the watch and take in every current record (before consuming)."""
        self._watcher = await self._watch_from_start()

    async def _watch_from_start(self) -> Any:
        watcher = await self.kv.watch(">", include_history=False)
        fresh: dict[str, BaseModel] = {}
        while (entry := await watcher.updates(timeout=LOAD_TIMEOUT_S)) is not None:  # type: ignore[no-untyped-call]
            self._apply(fresh, entry.key, entry.value, entry.operation)
        self._records = fresh
        self.version += 1
        return watcher

    def _apply(self, records: dict[str, BaseModel], key: str, value: bytes | None,
               operation: Any) -> None:
        model = RECORD_MODELS.get(key.split(".", 1)[0])
        if model is None:  # lookup indexes and admin keys are not cached
            return
        if operation is not None or not value:
            records.pop(key, None)
        else:
            records[key] = self.decode(value, model)
        self.version += 1

    def on_reconnected(self) -> None:
        """NATS came back: watch again from the current state."""
        self._rewatch.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Apply every change until ``stop``."""
        try:
            while not stop.is_set():
                try:
                    if self._watcher is None or self._rewatch.is_set():
                        self._rewatch.clear()
                        await self._stop_watcher()
                        self._watcher = await self._watch_from_start()
                    entry = await self._watcher.updates(timeout=1.0)
                except nats.errors.TimeoutError:
                    continue
                except Exception as exc:
                    log.warning("registry watch restarted: %r", exc)
                    await self._stop_watcher()
                    await stopped_within(stop, 1.0)
                    continue
                if isinstance(entry, KeyValue.Entry):
                    self._apply(self._records, entry.key, entry.value, entry.operation)
        finally:
            await self._stop_watcher()

    async def _stop_watcher(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            with contextlib.suppress(Exception):  # the connection may be gone
                await watcher.stop()

    async def _get(self, key: str, model: type[M]) -> M | None:
        found = self._records.get(key)
        if isinstance(found, model):
            return found
        record = await super()._get(key, model)
        if record is not None and key not in self._records:
            self._records[key] = record
            self.version += 1
        return record

    async def _all(self, prefix: str, model: type[M]) -> list[M]:
        return self.cached(prefix, model)

    async def put(self, record: Record) -> None:
        """Write through to KV, and see the write at once here."""
        await super().put(record)
        self._records[record_key(record)] = record
        self.version += 1

    def remember(self, record: Record) -> None:
        """Take in a record read from KV before the watch delivered it."""
        self._records[record_key(record)] = record
        self.version += 1

    def cached_one(self, key: str, model: type[M]) -> M | None:
        """One record in memory now (no KV read)."""
        found = self._records.get(key)
        return found if isinstance(found, model) else None

    def cached(self, prefix: str, model: type[M]) -> list[M]:
        """The records of one kind in memory now (no KV read)."""
        return [r for k, r in self._records.items() if k.startswith(prefix)
                and isinstance(r, model)]

    def forget(self, prefix: str) -> None:
        """Drop the records of one kind from memory (a test stands in for a deaf
        watch with it; the next full watch brings them back)."""
        self._records = {k: r for k, r in self._records.items() if not k.startswith(prefix)}
        self.version += 1


async def open_cached_registry(bus: Bus, settings: Settings) -> CachedRegistry:
    """The registry of ``settings`` read from memory, loaded and ready."""
    registry = CachedRegistry(await bus.kv(streams.BUCKET_REGISTRY), load_box(settings, False))
    await registry.load()
    return registry


class StrategyCache:
    """Ingress's lookups of a webhook's strategy: by id, token hash, slug and name,
    and which tenants are disabled — indexes over a :class:`CachedRegistry`, rebuilt
    only after the copy changed.

    ``registry`` (plain KV) serves the admin API's reads and writes; the lookups come
    from the watched copy, started by :meth:`start`. Without a copy (unit tests set
    :attr:`by_id`) the lookups work on what was set.
    """

    def __init__(self, registry: Registry, copy: CachedRegistry | None = None) -> None:
        self.registry = registry
        self.copy = copy
        self._set: dict[str, Strategy] = {}
        self._built_at = -1
        self._by_id: dict[str, Strategy] = {}
        self._token_index: dict[str, Strategy] | None = None
        self._slug_index: dict[str, list[Strategy]] | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _fresh(self) -> None:
        """Rebuild the indexes if the copy changed since they were built."""
        if self.copy is not None and self._built_at != self.copy.version:
            self._built_at = self.copy.version
            self._by_id = {s.id: s for s in self.copy.cached("strategy.", Strategy)}
            self._token_index = None
            self._slug_index = None

    @property
    def by_id(self) -> dict[str, Strategy]:
        """Every known strategy by id."""
        self._fresh()
        return self._by_id if self.copy is not None else self._set

    @by_id.setter
    def by_id(self, strategies: dict[str, Strategy]) -> None:
        if self.copy is not None:  # a copy that forgot: the next watch refills it
            self.copy.forget("strategy.")
        self._set = dict(strategies)
        self._built_at = -1
        self._token_index = None
        self._slug_index = None

    @property
    def by_token(self) -> dict[str, Strategy]:
        """Strategies by the hash of their secrets (previous ones included)."""
        strategies = self.by_id
        if self._token_index is None:
            index = {lookup_key(s.previous_secret): s for s in strategies.values()
                     if s.previous_secret}
            index.update({lookup_key(s.secret): s for s in strategies.values()})
            self._token_index = index
        return self._token_index

    def with_slug(self, slug: str) -> list[Strategy]:
        """Strategies whose slug matches (slugs are unique per tenant, not globally)."""
        strategies = self.by_id
        if self._slug_index is None:
            index: dict[str, list[Strategy]] = {}
            for strategy in strategies.values():
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

    def tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant as the cache knows it (None: not known here yet)."""
        return None if self.copy is None else self.copy.cached_one(f"tenant.{tenant_id}",
                                                                   Tenant)

    async def start(self) -> None:
        """Load the copy and follow changes until :meth:`stop`."""
        if self.copy is None:
            self.copy = CachedRegistry(self.registry.kv, self.registry.box)
        await self.copy.load()
        self._stop.clear()
        self._task = asyncio.create_task(self.copy.run(self._stop))

    def on_reconnected(self) -> None:
        """NATS came back: watch again (every current record is delivered anew)."""
        if self.copy is not None:
            self.copy.on_reconnected()

    async def fetch_missing(self, slug: str | None, token: str | None,
                            name: str | None, strategy_id: str | None = None) -> bool:
        """A lookup missed: a strategy registered a moment ago may not have reached the
        watch yet. Read the candidates from KV through the lookup indexes (and by
        id); True if any was found (the caller looks again)."""
        fresh = await self.registry.strategies_for(slug, token, name)
        if strategy_id and strategy_id not in {s.id for s in fresh}:
            by_id = await self.registry.strategy(strategy_id)
            fresh += [by_id] if by_id is not None else []
        for strategy in fresh:
            if self.copy is not None:
                self.copy.remember(strategy)
            else:
                self._set[strategy.id] = strategy
        self._token_index = None
        self._slug_index = None
        return bool(fresh)

    async def stop(self) -> None:
        """Stop following changes."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
