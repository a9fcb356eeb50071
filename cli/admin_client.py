"""``tradehooks tenant|account|strategy|callback|channel …``: the admin API from the command line.

Talks to a running system's operator listener over HTTP with an admin key:
``TRADEHOOKS_ADMIN_KEY`` (or ``admin_key`` in the data dir's demo.json) at
``TRADEHOOKS_OPERATOR_URL`` (or the ``api_url`` in demo.json, else the configured
operator host and port).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any
from urllib.parse import urlencode

import aiohttp

from cli import channels
from cli.fields import parse_fields
from libs.runtime.config import Settings

RESOURCES = {"tenant": "tenants", "account": "accounts", "strategy": "strategies",
             "callback": "callbacks"}
# Resources with a secret to rotate.
ROTATED = ("strategy", "callback")
COMMANDS = (*RESOURCES, "channel")


def add_parsers(sub: Any) -> None:
    """Register the resource commands on the CLI."""
    for resource in RESOURCES:
        parser = sub.add_parser(resource, help=f"manage {RESOURCES[resource]} "
                                "through the admin API of a running system")
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list")
        get = actions.add_parser("get")
        get.add_argument("id")
        create = actions.add_parser("create")
        create.add_argument("fields", nargs="+", metavar="KEY=VALUE",
                            help="e.g. name=Acme; JSON values are kept as JSON")
        update = actions.add_parser("update")
        update.add_argument("id")
        update.add_argument("fields", nargs="+", metavar="KEY=VALUE")
        for action in ("disable", "rotate") if resource in ROTATED else ("disable",):
            actions.add_parser(action).add_argument("id")
        if resource == "callback":
            _add_delivery_parsers(actions)
        parser.add_argument("--data-dir", help="data dir of 'tradehooks up'")
    channels.add_parser(sub)


def _add_delivery_parsers(actions: Any) -> None:
    """``callback deliveries`` (the delivery log) and ``callback redeliver``."""
    log = actions.add_parser("deliveries", help="the endpoint's delivery log")
    log.add_argument("id")
    again = actions.add_parser("redeliver", help="deliver one delivery, or a time range, "
                               "again")
    again.add_argument("id")
    again.add_argument("--delivery", help="the delivery to repeat")
    for parser in (log, again):
        parser.add_argument("--since", help="requested at or after (ISO 8601)")
        parser.add_argument("--until", help="requested before (ISO 8601)")
        parser.add_argument("--status", choices=["pending", "delivered", "parked"])
    log.add_argument("--limit", type=int, default=100)


def _delivery_call(base: str, args: argparse.Namespace) -> tuple[str, str, Any]:
    """Method, URL and body of a ``deliveries`` or ``redeliver`` command."""
    window = {k: v for k in ("since", "until", "status") if (v := getattr(args, k, None))}
    if args.action == "deliveries":
        query = urlencode({**window, "limit": args.limit})
        return "GET", f"{base}/{args.id}/deliveries?{query}", None
    if args.delivery:
        return "POST", f"{base}/{args.id}/deliveries/{args.delivery}/redeliver", None
    if not window.get("since"):
        raise SystemExit("redeliver needs --delivery, or --since (and --until, --status)")
    return "POST", f"{base}/{args.id}/redeliver", window


def _connection(settings: Settings) -> tuple[str, str]:
    demo_path = settings.data_dir / "demo.json"
    demo = json.loads(demo_path.read_text()) if demo_path.exists() else {}
    key = os.environ.get("TRADEHOOKS_ADMIN_KEY") or demo.get("admin_key", "")
    url = settings.operator_base_url or demo.get("api_url") or settings.operator_url
    if not key:
        raise SystemExit("no admin key: set TRADEHOOKS_ADMIN_KEY (see 'tradehooks apikey')")
    return url.rstrip("/") + "/api/v1", key


async def run(settings: Settings, resource: str, args: argparse.Namespace) -> int:
    """Do one admin call and print the JSON answer; exit 1 on an HTTP error."""
    api, key = _connection(settings)
    if resource == "channel":
        async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
            status, answer = await channels.call(http, api, args)
        print(json.dumps(answer, indent=2))
        return 0 if status < 400 else 1
    base = f"{api}/{RESOURCES[resource]}"
    action = args.action
    method, url, body = "GET", base, None
    if action == "get":
        url = f"{base}/{args.id}"
    elif action == "create":
        method, body = "POST", parse_fields(args.fields)
    elif action == "update":
        method, url, body = "PATCH", f"{base}/{args.id}", parse_fields(args.fields)
    elif action in ("disable", "rotate"):
        method, url = "POST", f"{base}/{args.id}/{action}"
    elif action in ("deliveries", "redeliver"):
        method, url, body = _delivery_call(base, args)
    async with aiohttp.ClientSession() as http, http.request(
            method, url, json=body, headers={"X-API-Key": key}) as resp:
        answer = await resp.json()
    print(json.dumps(answer, indent=2))
    return 0 if resp.status < 400 else 1
