"""The Telegram admin bot's decisions: who may use it, and what a message asks.

Chats are bound to a tenant and a role by the operator
(``TRADEHOOKS_TELEGRAM_ADMINS="-1001234=acme:admin,5551234=acme:viewer"``). An admin
may run every command; a viewer only those that change nothing. A chat that is not
bound is refused whatever it asks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "viewer"]
# Command → the least role that may run it.
COMMANDS: dict[str, Role] = {
    "add_strategy": "admin", "pause": "admin", "resume": "admin",
    "strategies": "viewer", "status": "viewer", "help": "viewer"}
USAGE = ("/add_strategy NAME [ACCOUNT] — register a strategy, answer its webhook URL and "
         "TradingView message\n/strategies — the tenant's strategies\n/pause ACCOUNT — "
         "new signals of the account fail\n/resume ACCOUNT — take signals again\n"
         "/status — accounts and strategies")
_COMMAND = re.compile(r"^/([a-z_]+)(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)


@dataclass(frozen=True)
class Binding:
    """A chat allowed to talk to the bot, for one tenant, with one role."""

    chat_id: str
    tenant_id: str
    role: Role


@dataclass(frozen=True)
class Command:
    """A message that asks for a command: its name and words."""

    name: str
    args: tuple[str, ...]


def parse_bindings(text: str) -> dict[str, Binding]:
    """``chat=tenant:role`` entries, comma-separated → chat id → binding; ValueError
    names a bad entry."""
    bindings: dict[str, Binding] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        chat, _, rest = entry.partition("=")
        tenant, _, role = rest.partition(":")
        role = role or "admin"
        if not re.fullmatch(r"-?\d+", chat.strip()) or not tenant.strip() or \
                role not in ("admin", "viewer"):
            raise ValueError(f"telegram admin entry {entry!r}: expected CHAT_ID=TENANT:ROLE "
                             "(role admin or viewer)")
        bindings[chat.strip()] = Binding(chat.strip(), tenant.strip(), role)  # type: ignore[arg-type]
    return bindings


def parse_command(text: str) -> Command | None:
    """The command a message asks for (``/pause@MyBot acc-1`` too), or None."""
    match = _COMMAND.match(text.strip())
    if match is None:
        return None
    return Command(match.group(1), tuple((match.group(2) or "").split()))


def refusal(binding: Binding | None, command: Command) -> str | None:
    """Why this chat may not run ``command``, or None when it may."""
    if binding is None:
        return "This chat is not allowed to use this bot."
    need = COMMANDS.get(command.name)
    if need is None:
        return f"Unknown command /{command.name}.\n{USAGE}"
    if need == "admin" and binding.role != "admin":
        return f"/{command.name} needs the admin role; this chat is a viewer."
    return None
