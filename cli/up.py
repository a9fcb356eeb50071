"""``tradehooks up``: the whole system on one machine, for trying it out."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
from pathlib import Path

import aiohttp

from cli.supervisor import Supervisor, child_env
from libs.registry.api_keys import ApiKeys
from libs.registry.migrations import RegistryMigrationError, migrate_registry
from libs.registry.models import Strategy
from libs.registry.provisioning import demo_info, ensure_demo, write_demo_file
from libs.registry.store import open_registry
from libs.runtime.bus import connect, ensure_topology
from libs.runtime.clock import SystemClock
from libs.runtime.config import Settings
from libs.runtime.embedded_nats import EmbeddedNats, free_port
from services.api.console.assets import built as console_built

log = logging.getLogger(__name__)
DEFAULT_EMBEDDED_NATS_PORT = 14222


def _port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _wait_ready(url: str, timeout: float = 60.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as session:
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with session.get(f"{url}/readyz") as resp:
                    if resp.status == 200:
                        return True
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    return False


def _console_note() -> str:
    if console_built():
        return ""
    return "\n                (not built: run `make console`, which needs Node.js 20 and npm)"


def _print_demo(info: dict[str, object], path: Path, created: bool) -> None:
    state = "created" if created else "already provisioned"
    print(f"""
tradehooks is running.  Demo strategy {state}; details saved in {path}

  console     : {info['console_url']}   (sign in with the admin key below){_console_note()}
  webhook URL : {info['webhook_url']}
  secret      : {info['secret']}
  operator API: {info['api_url']}/api/v1   (loopback unless TRADEHOOKS_OPERATOR_HOST says)
  account     : {info['api_url']}/api/v1/accounts/{info['account_id']}
  metrics     : {info['metrics_url']}
  NATS        : {info['nats_url']}
  admin key   : {info['admin_key']}   (X-API-Key for /api/v1/tenants|accounts|strategies)

TradingView alert message (paste into the alert's "Message" box):
{json.dumps(info['tradingview_message'], indent=2)}

Send a test alert:
  {info['curl']}

Press Ctrl-C to stop.
""", flush=True)


async def provision_demo(settings: Settings) -> tuple[Strategy, bool, str]:
    """Create the stream, buckets and demo records on ``settings.nats_url``; returns
    the demo strategy, whether it is new, and the admin key (made with the demo,
    else the one saved in demo.json).

    Stored records written under older rules are migrated first; raises
    RegistryMigrationError when one cannot be (nothing may start on it)."""
    bus = await connect(settings.nats_url, name="tradehooks-provision")
    try:
        await ensure_topology(bus, settings.dedupe_window_s, settings.nats_replicas,
                              settings.partitions)
        registry = await open_registry(bus, settings, create_key=True)
        await migrate_registry(bus, registry, SystemClock())
        strategy, created = await ensure_demo(bus, registry, SystemClock())
        admin_key = _saved_admin_key(settings.data_dir)
        if created or not admin_key:
            _, admin_key = await ApiKeys(registry.kv).create("admin")
        return strategy, created, admin_key
    finally:
        await bus.close()


def _saved_admin_key(data_dir: Path) -> str:
    path = data_dir / "demo.json"
    if not path.exists():
        return ""
    return str(json.loads(path.read_text()).get("admin_key", ""))


async def demo(settings: Settings) -> int:
    """``tradehooks demo``: provision the demo on a running cluster and print it."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        strategy, created, admin_key = await provision_demo(settings)
    except RegistryMigrationError as exc:
        print(f"not started: {exc}")
        return 1
    info = {**demo_info(strategy, settings.api_url, settings.operator_url, settings.nats_url),
            "admin_key": admin_key}
    path = write_demo_file(settings.data_dir, info)
    print(f"demo strategy {'created' if created else 'already provisioned'}; "
          f"details (with the secret) saved in {path}")
    print(f"webhook URL: {info['webhook_url']}")
    return 0


async def up(settings: Settings, explicit_nats: bool) -> int:
    """Start NATS (unless NATS_URL is set), provision the demo, run every service."""
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"data_dir": data_dir})
    embedded: EmbeddedNats | None = None
    if not explicit_nats:
        port = DEFAULT_EMBEDDED_NATS_PORT
        embedded = EmbeddedNats(data_dir / "nats",
                                port=port if _port_is_free(port) else free_port())
        await embedded.start()
        settings = settings.model_copy(update={"nats_url": embedded.url})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    supervisor: Supervisor | None = None
    try:
        try:
            strategy, created, admin_key = await provision_demo(settings)
        except RegistryMigrationError as exc:
            print(f"not started: {exc}", flush=True)
            return 1
        metrics_dir = data_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir()
        env = child_env(
            NATS_URL=settings.nats_url,
            TRADEHOOKS_DATA_DIR=str(data_dir),
            TRADEHOOKS_HTTP_PORT=str(settings.http_port),
            TRADEHOOKS_HTTP_HOST=settings.http_host,
            TRADEHOOKS_HTTP_WORKERS=str(settings.http_workers),
            TRADEHOOKS_OPERATOR_HOST=settings.operator_host,
            TRADEHOOKS_OPERATOR_PORT=str(settings.operator_port),
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
            TRADEHOOKS_SUPERVISED="1",
            # Who the services' parent must be: one that starts after it died
            # (slow to start, under load) sees at once that it is an orphan.
            TRADEHOOKS_SUPERVISOR_PID=str(os.getpid()),
        )
        if settings.database_url:
            env["TRADEHOOKS_DATABASE_URL"] = settings.database_url
        supervisor = Supervisor(env, copies={"ingress": settings.http_workers})
        await supervisor.start()
        for what, url in (("ingress", settings.api_url), ("api", settings.operator_url)):
            if not await _wait_ready(url):
                log.error("%s did not become ready; see the logs above", what)
        info = {**demo_info(strategy, settings.api_url, settings.operator_url, settings.nats_url),
                "admin_key": admin_key}
        _print_demo(info, write_demo_file(data_dir, info), created)
        await stop.wait()
        print("stopping…", flush=True)
    finally:
        if supervisor is not None:
            await supervisor.stop()
        if embedded is not None:
            embedded.stop()
    return 0
