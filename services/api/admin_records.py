"""The shape the tenant, account, strategy and callback routes share: list what a key sees, get
one it may see, disable one. Creating and changing differ per record and stay in
``admin_tenants``, ``admin_accounts`` and ``admin_strategies``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiohttp import web

from contracts.identifiers import Shape
from libs.http.problems import Problem
from libs.registry.api_keys import ApiKey
from libs.registry.models import Account, CallbackEndpoint, Strategy, Tenant
from libs.registry.store import Registry
from services.api.admin_auth import require_key
from services.api.admin_common import answer_change, author, global_admin, path_id, registry
from services.api.suspension import switched

R = TypeVar("R", Tenant, Account, Strategy, CallbackEndpoint)
Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(frozen=True)
class RecordRoutes(Generic[R]):
    """The common routes of one kind of registry record."""

    what: str  # "tenant": in answers ("no tenant t1")
    param: str  # the path parameter holding the id
    shape: Shape  # what an id of this kind looks like
    load_one: Callable[[Registry, str], Awaitable[R | None]]
    load_all: Callable[[Registry], Awaitable[list[R]]]
    view: Callable[[R], dict[str, Any]]
    tenant_of: Callable[[R], str]
    switch: str  # the field ``disable`` turns off ("active", "enabled")
    path: str  # the collection's path: "/api/v1/tenants"
    # Tenants: only a global admin changes one (a tenant cannot lift its own limits);
    # accounts and strategies: any write key of their tenant, suspension kept.
    global_writes: bool = False
    # Where one record is read, below its path (accounts: "/config"; their state is
    # the path itself, answered from the read model).
    show_at: str = ""

    def mount(self, app: web.Application, create: Handler, update: Handler,
              show: Handler | None = None) -> None:
        """The five routes: create and list the records, read (``show``: a reader of
        its own instead of :meth:`show`), change and disable one."""
        one = f"{self.path}/{{{self.param}}}"
        app.router.add_post(self.path, create)
        app.router.add_get(self.path, self.index)
        app.router.add_get(one + self.show_at, show or self.show)
        app.router.add_patch(one, update)
        app.router.add_post(f"{one}/disable", self.disable)

    async def visible(self, request: web.Request, write: bool = False) -> tuple[R, ApiKey]:
        """The record named in the path and the caller's key; 404 (never 403: no hint
        that it exists) for one the key may not see."""
        key = await (global_admin(request) if write and self.global_writes
                     else require_key(request, write=write))
        record_id = path_id(request, self.param, self.shape)
        record = await self.load_one(registry(request), record_id)
        if record is None or not key.sees(self.tenant_of(record)):
            raise Problem(404, "not_found", f"no {self.what} {record_id}")
        return record, key

    def changed(self, key: ApiKey, before: R, after: R) -> R:
        """``after`` as ``key`` may leave it (suspension is final: see suspension.py)."""
        if isinstance(before, Tenant | CallbackEndpoint) or \
                isinstance(after, Tenant | CallbackEndpoint):
            return after
        return switched(key, before, after)

    async def index(self, request: web.Request) -> web.Response:
        """``GET /api/v1/<records>``: the records the key sees."""
        key = await require_key(request)
        records = await self.load_all(registry(request))
        return web.json_response([self.view(r) for r in records if key.sees(self.tenant_of(r))])

    async def show(self, request: web.Request) -> web.Response:
        """``GET /api/v1/<records>/{id}``."""
        record, _ = await self.visible(request)
        return web.json_response(self.view(record))

    async def disable(self, request: web.Request) -> web.Response:
        """``POST /api/v1/<records>/{id}/disable``: switched off at once (``PATCH`` with
        the switch on undoes it)."""
        record, key = await self.visible(request, write=True)
        off = record.model_copy(update={self.switch: False})
        return await answer_change(request, record, self.changed(key, record, off),
                                   author(key))
