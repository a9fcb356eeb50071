"""The registry in NATS KV: every instance of every service reads the same config.

Keys: ``tenant.<id>``, ``account.<id>``, ``strategy.<id>``, ``callback.<id>``. Every
service reads it through one watched copy in memory (:mod:`libs.registry.cache`), so a change is
seen everywhere without a restart.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel

from contracts import streams
from contracts.identifiers import ACCOUNT_ID, CALLBACK_ID, NAME, SLUG, STRATEGY_ID, TENANT_ID
from contracts.subjects import token as subject_token
from libs.registry.kv_keys import matching_keys
from libs.registry.models import Account, CallbackEndpoint, Record, Strategy, Tenant, kind_of
from libs.registry.secrets import lookup_key
from libs.registry.upcast import upcast_record
from libs.registry.vault import SecretBox, load_box
from libs.runtime.bus import Bus
from libs.runtime.config import Settings

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
# Where secrets sit in stored records (a path of keys into the JSON; ``*``: every
# item of a list).
_SECRET_FIELDS: tuple[tuple[str, ...], ...] = (
    ("secret",), ("previous_secret",), ("alpaca", "secret_key"),
    ("exchange", "secret"), ("exchange", "password"),
    ("notifications", "*", "secret"))


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


def _transform(data: Any, path: tuple[str, ...], how: Callable[[str], str]) -> None:
    node: Any = data
    for depth, key in enumerate(path[:-1]):
        if key == "*":
            for item in node if isinstance(node, list) else []:
                _transform(item, path[depth + 1:], how)
            return
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict) and isinstance(node.get(path[-1]), str) and node[path[-1]]:
        node[path[-1]] = how(node[path[-1]])


class Registry:
    """Read and write registry records in one KV bucket; secrets are sealed at rest."""

    def __init__(self, kv: KeyValue, box: SecretBox) -> None:
        self.kv = kv
        self.box = box

    def stored_form(self, record: Record) -> dict[str, Any]:
        """A record as stored (and carried by registry events): its secrets sealed."""
        data: dict[str, Any] = record.model_dump(mode="json")
        for path in _SECRET_FIELDS:
            _transform(data, path, self.box.seal)
        return data

    def encode(self, record: Record) -> bytes:
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

    async def put(self, record: Record) -> None:
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

    async def callback(self, callback_id: str) -> CallbackEndpoint | None:
        """One callback endpoint, or None."""
        if not CALLBACK_ID.matches(callback_id):
            return None
        return await self._get(f"callback.{callback_id}", CallbackEndpoint)

    async def callbacks(self) -> list[CallbackEndpoint]:
        """Every callback endpoint of every tenant."""
        return await self._all("callback.", CallbackEndpoint)

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


async def open_registry(bus: Bus, settings: Settings, create_key: bool = False) -> Registry:
    """The registry with the master key of ``settings`` (created only if asked)."""
    return Registry(await bus.kv(streams.BUCKET_REGISTRY), load_box(settings, create_key))

