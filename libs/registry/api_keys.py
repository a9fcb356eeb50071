"""Admin API keys: ``thk_<id>_<secret>``, stored hashed, with a role and a scope.

``admin`` may write, ``viewer`` may only read. A key with a ``tenant_id`` sees and
changes only that tenant's records; a key without one is a global operator key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict

from contracts.identifiers import API_KEY_ID, CREDENTIAL
from libs.registry.kv_keys import matching_keys

Role = Literal["admin", "viewer"]
PREFIX = "thk_"


class ApiKey(BaseModel):
    """A stored key: never the key itself, only its hash."""

    model_config = ConfigDict(frozen=True)
    id: str
    role: Role
    tenant_id: str = ""  # "" = every tenant
    key_hash: str

    def may_write(self) -> bool:
        """Admins write; viewers only read."""
        return self.role == "admin"

    def sees(self, tenant_id: str) -> bool:
        """Whether records of ``tenant_id`` are visible to this key."""
        return not self.tenant_id or self.tenant_id == tenant_id


def _hash(secret: str) -> str:
    return hashlib.sha256(b"tradehooks-api-key:" + secret.encode()).hexdigest()


class ApiKeys:
    """Create and verify admin API keys in the registry bucket (``apikey.<id>``)."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def create(self, role: Role, tenant_id: str = "") -> tuple[ApiKey, str]:
        """A new key; the plain key is returned once and never stored."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        record = ApiKey(id=key_id, role=role, tenant_id=tenant_id, key_hash=_hash(secret))
        await self.kv.put(f"apikey.{key_id}", record.model_dump_json().encode())
        return record, f"{PREFIX}{key_id}_{secret}"

    async def verify(self, presented: str) -> ApiKey | None:
        """The key's record when ``presented`` is valid (constant-time), else None."""
        if not presented.startswith(PREFIX) or not CREDENTIAL.matches(presented):
            return None
        key_id, _, secret = presented.removeprefix(PREFIX).partition("_")
        if not secret:
            return None
        record = await self.get(key_id)
        if record is None:
            return None
        return record if hmac.compare_digest(record.key_hash, _hash(secret)) else None

    async def all(self) -> list[ApiKey]:
        """Every stored key (their hashes, never the keys), by id."""
        out = []
        for name in await matching_keys(self.kv, "apikey.*"):
            try:
                entry = await self.kv.get(name)
            except KeyNotFoundError:
                continue
            if entry.value:
                out.append(ApiKey.model_validate_json(entry.value))
        return sorted(out, key=lambda k: k.id)

    async def get(self, key_id: str) -> ApiKey | None:
        """One stored key by id, or None."""
        # Checked before the lookup: the id becomes part of a KV key (a subject).
        if not API_KEY_ID.matches(key_id):
            return None
        try:
            entry = await self.kv.get(f"apikey.{key_id}")
        except KeyNotFoundError:
            return None
        return ApiKey.model_validate_json(entry.value) if entry.value else None

    async def revoke(self, key_id: str) -> bool:
        """Delete a key; it stops working on every ingress at once (keys are read on
        every request, never cached). False when there was no such key."""
        if await self.get(key_id) is None:
            return False
        await self.kv.delete(f"apikey.{key_id}")
        return True
