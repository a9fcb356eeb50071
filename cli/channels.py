"""``tradehooks channel list|set|remove TENANT …``: a tenant's notification channels
through the admin API (``/api/v1/tenants/{tenant}/notifications``).

``set`` adds a channel or changes one: the fields given are laid over the channel as
it is (its secret kept unless ``secret=`` is given), so ``channel set acme desk
enabled=false`` switches one channel off and changes nothing else.
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp

from cli.fields import parse_fields

# Fields that are text even when they look like numbers (a chat id, a token).
TEXT_FIELDS = frozenset({"secret", "chat_id", "mail_from", "smtp_host", "smtp_user"})


def add_parser(sub: Any) -> None:
    """Register ``channel`` on the CLI."""
    parser = sub.add_parser("channel", help="manage a tenant's notification channels "
                            "(Telegram, Discord, Slack, e-mail) through the admin API")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list").add_argument("tenant")
    put = actions.add_parser("set", help="add a channel, or change the fields given")
    put.add_argument("tenant")
    put.add_argument("name")
    put.add_argument("fields", nargs="*", metavar="KEY=VALUE",
                     help='e.g. kind=telegram chat_id=-100123 secret=123:abc '
                     'topics=\'["fills","failures"]\'')
    remove = actions.add_parser("remove")
    remove.add_argument("tenant")
    remove.add_argument("name")
    parser.add_argument("--data-dir", help="data dir of 'tradehooks up'")


async def call(http: aiohttp.ClientSession, api: str, args: argparse.Namespace
               ) -> tuple[int, Any]:
    """Do the command's calls; the last answer's status and body."""
    base = f"{api}/tenants/{args.tenant}/notifications"
    if args.action == "list":
        async with http.get(base) as resp:
            return resp.status, await resp.json()
    if args.action == "remove":
        async with http.delete(f"{base}/{args.name}") as resp:
            return resp.status, await resp.json()
    async with http.get(base) as resp:
        current = await resp.json()
        if resp.status >= 400:
            return resp.status, current
    old: dict[str, Any] = next((c for c in current if c.get("name") == args.name), {})
    body = {**old, **parse_fields(args.fields, TEXT_FIELDS)}
    body.pop("name", None)
    async with http.put(f"{base}/{args.name}", json=body) as resp:
        return resp.status, await resp.json()
