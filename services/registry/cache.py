"""The registry read from memory, for the pipeline services.

Every message makes the validator, risk, executor and monitor read a strategy and an
account (and a tenant): from KV that is two or three round trips per stage. Here
reads come from memory, kept current by one watch of the registry bucket, so a
change made anywhere is seen within milliseconds. A record not in memory yet
(created a moment ago) is read from KV. After a NATS reconnect the watch is started
again, which delivers every record anew: a watch that went deaf cannot leave a
disabled strategy trading.
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
from services.registry.models import RECORD_MODELS, Account, Strategy, Tenant
from services.registry.store import M, Registry, record_key
from services.registry.vault import SecretBox, load_box
from services.runtime.bus import Bus
from services.runtime.config import Settings
from services.runtime.timers import stopped_within

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

    async def load(self) -> None:
        """Start the watch and take in every current record (before consuming)."""
        self._watcher = await self._watch_from_start()

    async def _watch_from_start(self) -> Any:
        watcher = await self.kv.watch(">", include_history=False)
        fresh: dict[str, BaseModel] = {}
        while (entry := await watcher.updates(timeout=LOAD_TIMEOUT_S)) is not None:  # type: ignore[no-untyped-call]
            self._apply(fresh, entry.key, entry.value, entry.operation)
        self._records = fresh
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
        if record is not None:
            self._records.setdefault(key, record)
        return record

    async def _all(self, prefix: str, model: type[M]) -> list[M]:
        return [r for k, r in self._records.items() if k.startswith(prefix)
                and isinstance(r, model)]

    async def put(self, record: Tenant | Account | Strategy) -> None:
        """Write through to KV, and see the write at once here."""
        await super().put(record)
        self._records[record_key(record)] = record


async def open_cached_registry(bus: Bus, settings: Settings) -> CachedRegistry:
    """The registry of ``settings`` read from memory, loaded and ready."""
    registry = CachedRegistry(await bus.kv(streams.BUCKET_REGISTRY), load_box(settings, False))
    await registry.load()
    return registry
