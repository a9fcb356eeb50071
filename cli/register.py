"""``tradehooks register``, ``resume`` and ``rotate``: operator commands on a running system."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import ValidationError

from contracts.webhook_urls import webhook_url
from libs.registry.api_keys import ApiKeys
from libs.registry.importer import apply_registry_file, problems_of, read_registry_file
from libs.registry.operations import resume_account, rotate_secret
from libs.registry.store import Registry, open_registry
from libs.runtime.bus import Bus, connect, ensure_topology
from libs.runtime.clock import SystemClock
from libs.runtime.config import Settings


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
    except OSError as exc:
        print(f"cannot use {file}: {exc}")
        return 2
    except ValidationError as exc:
        print(f"cannot use {file}: " + "; ".join(problems_of(exc)))
        return 2
    async with registry_connection(settings, explicit_nats, "register") as (bus, registry):
        try:
            results = await apply_registry_file(bus, registry, data, SystemClock())
        except ValueError as exc:
            print(f"not registered: {exc}")
            return 2
    print(f"registered {len(data.tenants)} tenant(s), {len(data.accounts)} account(s), "
          f"{len(results)} strategy(ies)")
    for strategy, fresh in results:
        print(f"  {strategy.name}: "
              f"{webhook_url(settings.api_url, strategy.tenant_id, strategy.slug)}")
        if fresh:
            print(f"    secret (shown once): {strategy.secret}")
    return 0


@contextlib.asynccontextmanager
async def registry_connection(settings: Settings, explicit_nats: bool,
                              name: str) -> AsyncIterator[tuple[Bus, Registry]]:
    """A connection to the running system's NATS and its registry, closed after."""
    bus = await connect(_nats_url(settings, explicit_nats), name=f"tradehooks-{name}")
    try:
        await ensure_topology(bus, settings.dedupe_window_s, settings.nats_replicas,
                              settings.partitions)
        yield bus, await open_registry(bus, settings, create_key=True)
    finally:
        await bus.close()


async def resume(settings: Settings, account_id: str, explicit_nats: bool) -> int:
    """Resume a paused account; exit 2 if it does not exist."""
    async with registry_connection(settings, explicit_nats, "resume") as (bus, registry):
        resumed = await resume_account(bus, registry, account_id, SystemClock(), by="cli")
    if resumed is None:
        print(f"no account {account_id}")
        return 2
    print(f"account {account_id} resumed")
    return 0


async def rotate(settings: Settings, strategy_id: str, overlap_s: float,
                 explicit_nats: bool) -> int:
    """Rotate a strategy's secret and print the new one once."""
    async with registry_connection(settings, explicit_nats, "rotate") as (bus, registry):
        rotated = await rotate_secret(bus, registry, strategy_id, overlap_s, SystemClock())
    if rotated is None:
        print(f"no strategy {strategy_id}")
        return 2
    print(f"new secret (shown once): {rotated.secret}")
    print(f"the previous secret works until {rotated.previous_valid_until:%Y-%m-%d %H:%M:%S} UTC")
    return 0


async def manage_api_keys(settings: Settings, args: argparse.Namespace,
                          explicit_nats: bool) -> int:
    """``apikey [create]``: print a new key once; ``apikey list``; ``apikey revoke ID``."""
    async with registry_connection(settings, explicit_nats, "apikey") as (_, registry):
        keys = ApiKeys(registry.kv)
        if args.action == "list":
            for record in await keys.all():
                print(f"{record.id}  {record.role:<6}  {record.tenant_id or '(every tenant)'}")
            return 0
        if args.action == "revoke":
            if not args.key_id:
                print("apikey revoke needs the key's id (see 'tradehooks apikey list')")
                return 2
            if not await keys.revoke(args.key_id):
                print(f"no API key {args.key_id}")
                return 2
            print(f"key {args.key_id} revoked")
            return 0
        record, key = await keys.create(
            "viewer" if args.role == "viewer" else "admin", args.tenant)
    scope = f"tenant {args.tenant}" if args.tenant else "every tenant"
    print(f"{record.role} key for {scope} (shown once): {key}")
    return 0
