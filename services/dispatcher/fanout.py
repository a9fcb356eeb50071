"""Lifecycle events in, one ``callback.requested`` per endpoint that wants the event.

The handler table names every event type an endpoint may subscribe to; the
endpoints are the tenant's, from the watched registry copy. A delivery's id is
derived from the event and the endpoint, and so is the request's message id: a
redelivered event requests nothing twice.

Most tenants register no endpoint, yet the consumer receives every lifecycle event.
Its decode (:meth:`Fanout.decode`) reads only the envelope (type and tenant) and
skips, undecoded, an event no endpoint of the tenant subscribes to; the index it asks
is rebuilt from the registry copy whenever the copy changed (the registry watch), so
an endpoint added is wanted from the next event on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, get_args

from contracts import streams
from contracts.events import (
    CALLBACK_EVENT_TYPES,
    AnyEvent,
    CallbackRequested,
    Event,
    event_to_builtins,
    event_type,
)
from libs.registry.cache import CachedRegistry
from libs.registry.models import CallbackEndpoint
from libs.runtime.clock import Clock
from libs.runtime.consumer import Outgoing
from libs.runtime.dispatch import HandlerTable
from libs.runtime.envelope import decode_unless
from libs.runtime.ids import derived_event_id

# The event classes endpoints may subscribe to.
SUBSCRIBABLE: tuple[type[Event], ...] = tuple(
    cls for cls in get_args(AnyEvent)
    if str(cls.__struct_config__.tag) in CALLBACK_EVENT_TYPES)


def delivery_id_for(event_id: str, endpoint_id: str) -> str:
    """The id of the delivery of one event to one endpoint (stable)."""
    digest = hashlib.sha256(f"{event_id}:{endpoint_id}".encode()).hexdigest()
    return f"dlv-{digest[:24]}"


def payload_of(event: Event) -> dict[str, Any]:
    """The event as a callback's ``data``: as published, minus registry records
    (sealed secrets are nobody's business outside the platform)."""
    data = event_to_builtins(event)
    data.pop("record", None)
    return data


def requests_for(event: Event, endpoints: Sequence[CallbackEndpoint],
                 now: datetime) -> list[Outgoing]:
    """A ``callback.requested`` for each of ``endpoints`` that wants ``event``."""
    kind = event_type(event)
    strategy_id = str(getattr(event, "strategy_id", ""))
    account_id = str(getattr(event, "account_id", ""))
    out = []
    for endpoint in endpoints:
        if endpoint.tenant_id != event.tenant_id or \
                not endpoint.wants(kind, strategy_id, account_id):
            continue
        delivery_id = delivery_id_for(event.event_id, endpoint.id)
        request = CallbackRequested(
            event_id=derived_event_id(delivery_id, "requested"), signal_id=event.signal_id,
            tenant_id=event.tenant_id, occurred_at=now, endpoint_id=endpoint.id,
            delivery_id=delivery_id, source_event_id=event.event_id, source_type=kind,
            payload=payload_of(event))
        out.append(Outgoing(request, streams.message_id(delivery_id, "requested")))
    return out


class _Index:
    """The endpoints in the registry copy, by tenant, and the event types each
    tenant's enabled endpoints subscribe to."""

    def __init__(self, endpoints: Sequence[CallbackEndpoint]) -> None:
        self.endpoints: dict[str, list[CallbackEndpoint]] = {}
        self.types: dict[str, frozenset[str]] = {}
        for endpoint in endpoints:
            self.endpoints.setdefault(endpoint.tenant_id, []).append(endpoint)
        for tenant_id, mine in self.endpoints.items():
            self.types[tenant_id] = frozenset(
                kind for e in mine if e.enabled for kind in e.event_types)


class Fanout:
    """The fan-out consumer's handlers and decode."""

    def __init__(self, registry: CachedRegistry, clock: Clock) -> None:
        self.registry = registry
        self.clock = clock
        self._index = _Index(())
        self._built_at: int | None = None  # the copy's version the index was built from
        self.decode = decode_unless(self.wants)

    def _current(self) -> _Index:
        """The index of the registry copy as it is now (rebuilt after any change)."""
        if self._built_at != self.registry.version:
            self._built_at = self.registry.version
            self._index = _Index(self.registry.cached("callback.", CallbackEndpoint))
        return self._index

    def wants(self, kind: str, tenant_id: str) -> bool:
        """Whether an enabled endpoint of the tenant subscribes to ``kind`` (its
        strategy and account filters are applied to the decoded event)."""
        return kind in self._current().types.get(tenant_id, frozenset())

    def endpoints_of(self, tenant_id: str) -> list[CallbackEndpoint]:
        """The tenant's endpoints in memory now."""
        return self._current().endpoints.get(tenant_id, [])

    async def handle(self, event: Event) -> list[Outgoing]:
        """The requests one lifecycle event makes."""
        return requests_for(event, self.endpoints_of(event.tenant_id), self.clock.now())

    def table(self) -> HandlerTable:
        """Every subscribable event type → :meth:`handle` (a :class:`Skipped` event,
        like any type not in it, is answered with nothing)."""
        return HandlerTable({cls: self.handle for cls in SUBSCRIBABLE})
