"""The ``tradehooks`` command line: ``up``, ``run SERVICE``, ``replay``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from libs.runtime.config import Settings, load_settings
from libs.runtime.logs import setup_logging

# Service name (as on the CLI) → module whose ``main(settings)`` runs it.
SERVICE_MODULES = {
    "ingress": "services.ingress.bootstrap",
    "api": "services.api.bootstrap",
    "validator": "services.validator.bootstrap",
    "risk": "services.risk.bootstrap",
    "executor": "services.executor.bootstrap",
    "sl-tp-monitor": "services.sltp_monitor.bootstrap",
    "sltp_monitor": "services.sltp_monitor.bootstrap",
    "auditor": "services.auditor.bootstrap",
    "notifier": "services.notifier.bootstrap",
    "dispatcher": "services.dispatcher.bootstrap",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradehooks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole system on this machine")
    up.add_argument("--port", type=int, help="public (webhook) HTTP port (default 8080)")
    up.add_argument("--operator-port", type=int,
                    help="operator API and metrics port, on loopback (default 8081)")
    up.add_argument("--data-dir", help="where NATS, the event store and demo.json live")
    run = sub.add_parser("run", help="run one service against an existing NATS and store")
    run.add_argument("service", choices=sorted(SERVICE_MODULES))
    demo = sub.add_parser("demo", help="provision the demo strategy on a running NATS")
    demo.add_argument("--data-dir", help="where demo.json is written")
    register = sub.add_parser(
        "register", help="create or update tenants, accounts and strategies from a JSON file")
    register.add_argument("file", help="JSON with 'tenants', 'accounts' and 'strategies' lists")
    register.add_argument("--data-dir", help="data dir of 'tradehooks up' (finds its NATS)")
    resume = sub.add_parser("resume", help="resume an account paused by the breaker")
    resume.add_argument("account_id")
    resume.add_argument("--data-dir", help="data dir of 'tradehooks up' (finds its NATS)")
    rotate = sub.add_parser("rotate", help="give a strategy a new secret (old one overlaps)")
    rotate.add_argument("strategy_id")
    rotate.add_argument("--overlap-s", type=float, default=3600.0,
                        help="how long the old secret keeps working (default 3600)")
    rotate.add_argument("--data-dir", help="data dir of 'tradehooks up' (finds its NATS)")
    apikey = sub.add_parser("apikey", help="create, list or revoke admin API keys")
    apikey.add_argument("action", nargs="?", choices=["create", "list", "revoke"],
                        default="create")
    apikey.add_argument("key_id", nargs="?", help="the key to revoke")
    apikey.add_argument("--role", choices=["admin", "viewer"], default="admin")
    apikey.add_argument("--tenant", default="", help="limit the key to one tenant")
    apikey.add_argument("--data-dir", help="data dir of 'tradehooks up' (finds its NATS)")
    # Imported here, not at the top: a service process never needs them (see main).
    from cli import admin_client, audit, logs

    admin_client.add_parsers(sub)
    audit.add_parsers(sub)
    logs.add_parser(sub)
    rebuild = sub.add_parser("rebuild-registry",
                             help="rebuild tenants, accounts and strategies from the event "
                             "store and compare them with the live registry")
    rebuild.add_argument("--apply", action="store_true",
                         help="write rebuilt records that differ or are missing")
    rebuild.add_argument("--data-dir", help="data dir of 'tradehooks up'")
    replay = sub.add_parser("replay", help="rebuild the projections from the event store")
    replay.add_argument("--data-dir", help="data dir of the default SQLite store")
    replay.add_argument("--progress", action="store_true",
                        help="show a progress bar on stderr even when it is not a terminal")
    return parser


def _run_service(service: str, settings: Settings) -> int:
    """Run one service until it is stopped."""
    setup_logging(service, settings.log_level)
    module = importlib.import_module(SERVICE_MODULES[service])
    service_main: Callable[[Settings], Coroutine[Any, Any, None]] = module.main
    asyncio.run(service_main(settings))
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    updates: dict[str, Any] = {}
    if getattr(args, "port", None):
        updates["http_port"] = args.port
    if getattr(args, "operator_port", None):
        updates["operator_port"] = args.operator_port
    if getattr(args, "data_dir", None):
        updates["data_dir"] = args.data_dir
    return Settings.model_validate({**settings.model_dump(), **updates})


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tradehooks`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # ``run SERVICE`` starts every service process: it needs neither the other
    # commands' parsers nor what they import (the event store, exports, what-if),
    # about a third of a process's start.
    if len(argv) == 2 and argv[0] == "run" and argv[1] in SERVICE_MODULES:
        return _run_service(argv[1], load_settings())
    args = _parser().parse_args(argv)
    settings = _settings(args)
    if args.command == "run":
        return _run_service(args.service, settings)
    if args.command == "up":
        from cli.up import up

        setup_logging("up", settings.log_level)
        return asyncio.run(up(settings, explicit_nats="NATS_URL" in os.environ))
    if args.command == "demo":
        from cli.up import demo as run_demo

        setup_logging("demo", settings.log_level)
        return asyncio.run(run_demo(settings))
    if args.command == "register":
        from cli.register import register as run_register

        setup_logging("register", settings.log_level)
        return asyncio.run(run_register(settings, args.file,
                                        explicit_nats="NATS_URL" in os.environ))
    if args.command == "resume":
        from cli.register import resume as run_resume

        setup_logging("resume", settings.log_level)
        return asyncio.run(run_resume(settings, args.account_id,
                                      explicit_nats="NATS_URL" in os.environ))
    if args.command == "rotate":
        from cli.register import rotate as run_rotate

        setup_logging("rotate", settings.log_level)
        return asyncio.run(run_rotate(settings, args.strategy_id, args.overlap_s,
                                      explicit_nats="NATS_URL" in os.environ))
    if args.command == "apikey":
        from cli.register import manage_api_keys

        setup_logging("apikey", settings.log_level)
        return asyncio.run(manage_api_keys(settings, args, explicit_nats="NATS_URL" in os.environ))
    if args.command == "rebuild-registry":
        from cli.rebuild_registry import rebuild_registry

        setup_logging("rebuild-registry", settings.log_level)
        return asyncio.run(rebuild_registry(settings, args.apply,
                                            explicit_nats="NATS_URL" in os.environ))
    from cli import admin_client, audit, logs

    if args.command == "logs":
        return logs.run(settings, args)
    if args.command in audit.COMMANDS:
        return audit.run(settings, args)
    if args.command in admin_client.COMMANDS:
        return asyncio.run(admin_client.run(settings, args.command, args))
    if args.command == "replay":
        from cli.replay import replay

        setup_logging("replay", settings.log_level)
        return replay(settings, progress=args.progress)
    return 2


if __name__ == "__main__":
    sys.exit(main())
