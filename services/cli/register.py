"""``tradehooks register``, ``resume`` and ``rotate``: operator commands on a running system."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import ValidationError

from services.registry.api_keys import ApiKeys
from services.registry.importer import apply_registry_file, read_registry_file
from services.registry.operations import resume_account, rotate_secret
from services.registry.store import Registry, open_registry
from services.runtime.bus import Bus, connect, ensure_topology
from services.runtime.clock import SystemClock
from services.runtime.config import Settings


def _nats_url(settings: Settings, explicit: bool) -> str:
    """NATS_URL, else the embedded server of ``tradehooks up`` (from demo.json)."""
    demo = settings.data_dir / "demo.json"
    if not explicit and demo.exists():
        return str(json.loads(demo.read_text())["nats_url"])
    return settings.nats_url


async def register(settings: Settings, file: str, explicit_nats: bool) -> int:
    """Apply the file; prints each strategy's webhook URL and any new secret once."""
    try:
        data = read_registry_file(Path(file))
    except (OSError, ValidationError) as exc:
        print(f"cannot use {file}: {exc}")
        return 2
    async with _registry(settings, explicit_nats, "register") as (bus, registry):
        try:
            results = await apply_registry_file(bus, registry, data, SystemClock())
        except ValueError as exc:
            print(f"not registered: {exc}")
            return 2
    print(f"registered {len(data.tenants)} tenant(s), {len(data.accounts)} account(s), "
          f"{len(results)} strategy(ies)")
    for strategy, fresh in results:
        print(f"  {strategy.name}: {settings.api_url}/webhook/{strategy.slug}")
        if fresh:
            print(f"    secret (shown once): {strategy.secret}")
    return 0


@contextlib.asynccontextmanager
async def _registry(settings: Settings, explicit_nats: bool,
                    name: str) -> AsyncIterator[tuple[Bus, Registry]]:
    """A connection to the running system's NATS and its registry, closed after."""
    bus = await connect(_nats_url(settings, explicit_nats), name=f"tradehooks-{name}")
    try:
        await ensure_topology(bus, settings.dedupe_window_s, settings.nats_replicas)
        yield bus, await open_registry(bus, settings, create_key=True)
    finally:
        await bus.close()


async def resume(settings: Settings, account_id: str, explicit_nats: bool) -> int:
    """Resume a paused account; exit 2 if it does not exist."""
    async with _registry(settings, explicit_nats, "resume") as (bus, registry):
        resumed = await resume_account(bus, registry, account_id, SystemClock(), by="cli")
    if resumed is None:
        print(f"no account {account_id}")
        return 2
    print(f"account {account_id} resumed")
    return 0


async def rotate(settings: Settings, strategy_id: str, overlap_s: float,
                 explicit_nats: bool) -> int:
    """Rotate a strategy's secret and print the new one once."""
    async with _registry(settings, explicit_nats, "rotate") as (bus, registry):
        rotated = await rotate_secret(bus, registry, strategy_id, overlap_s, SystemClock())
    if rotated is None:
        print(f"no strategy {strategy_id}")
        return 2
    print(f"new secret (shown once): {rotated.secret}")
    print(f"the previous secret works until {rotated.previous_valid_until:%Y-%m-%d %H:%M:%S} UTC")
    return 0


async def create_api_key(settings: Settings, role: str, tenant_id: str,
                         explicit_nats: bool) -> int:
    """Create an admin API key and print it once."""
    async with _registry(settings, explicit_nats, "apikey") as (_, registry):
        record, key = await ApiKeys(registry.kv).create(
            "viewer" if role == "viewer" else "admin", tenant_id)
    scope = f"tenant {tenant_id}" if tenant_id else "every tenant"
    print(f"{record.role} key for {scope} (shown once): {key}")
    return 0
