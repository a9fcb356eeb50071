"""Register tenants, accounts and strategies from a JSON file (until the admin API).

Records are created or replaced by id (a replaced one is recorded as an update). A
strategy without a ``secret`` keeps the one it has, or gets a new one that is shown
once.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from libs.registry.changes import save_change
from libs.registry.models import Account, Strategy, Tenant, slugify
from libs.registry.provisioning import register_account, register_strategy, register_tenant
from libs.registry.secrets import new_secret
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock

# Who the registry events name as the author of a change made from a file.
BY = "registry file"


class StrategyEntry(Strategy):
    """A strategy as a file gives it: every setting checked like the admin API's, the
    secret and slug may be left to the server."""

    secret: str = Field(default="", repr=False)
    slug: str = ""


class RegistryFile(BaseModel):
    """The file's shape: three lists, each optional, checked before anything applies."""

    model_config = ConfigDict(extra="forbid")
    tenants: list[Tenant] = []
    accounts: list[Account] = []
    strategies: list[StrategyEntry] = []


def read_registry_file(path: Path) -> RegistryFile:
    """Parse and validate the file (pydantic errors name the bad field)."""
    return RegistryFile.model_validate_json(path.read_bytes())


def problems_of(exc: ValidationError) -> list[str]:
    """One ``field: why`` line per problem of a registry file."""
    out = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        out.append(f"{field}: {message}" if field else message)
    return out


async def apply_registry_file(bus: Bus, registry: Registry, data: RegistryFile,
                              clock: Clock) -> list[tuple[Strategy, bool]]:
    """Store every record and publish its registry event; returns each strategy and
    whether its secret is new (so it must be shown to the operator now)."""
    for tenant in data.tenants:
        if (known_tenant := await registry.tenant(tenant.id)) is not None:
            await save_change(bus, registry, known_tenant, tenant, clock, BY)
        else:
            await register_tenant(bus, registry, tenant, clock)
    for account in data.accounts:
        if (known_account := await registry.account(account.id)) is not None:
            await save_change(bus, registry, known_account, account, clock, BY)
        else:
            await register_account(bus, registry, account, clock)
    out: list[tuple[Strategy, bool]] = []
    for entry in data.strategies:
        fields = entry.model_dump(exclude_unset=True)
        existing = await registry.strategy(str(fields.get("id", "")))
        new_secret_made = False
        if not fields.get("secret"):
            if existing is not None:
                fields["secret"] = existing.secret
            else:
                fields["secret"] = new_secret()
                new_secret_made = True
        fields.setdefault("slug", slugify(str(fields.get("name", ""))))
        strategy = Strategy.model_validate(fields)
        if await registry.account(strategy.account_id) is None:
            raise ValueError(f"strategy {strategy.id}: account {strategy.account_id} is unknown")
        if existing is not None:
            await save_change(bus, registry, existing, strategy, clock, BY)
        else:
            await register_strategy(bus, registry, strategy, clock)
        out.append((strategy, new_secret_made))
    return out
