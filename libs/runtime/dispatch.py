"""Handler tables: each service says which event types it handles, in one place.

A consumer's messages go to the handler registered for the event's type; any other
event on the consumer's subjects is acked with nothing to publish. A newcomer reads a
service's table to know what it consumes, instead of ``isinstance`` filters inside
handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from libs.runtime.consumer import Outgoing

EventHandler = Callable[[Any], Awaitable[Sequence[Outgoing]]]


class HandlerTable:
    """Event type → handler; an unregistered type is answered with nothing."""

    def __init__(self, handlers: Mapping[type[Any], EventHandler]) -> None:
        self.handlers = dict(handlers)

    def handles(self) -> list[str]:
        """The names of the event types handled (for docs and tests)."""
        return sorted(kind.__name__ for kind in self.handlers)

    async def __call__(self, event: Any) -> Sequence[Outgoing]:
        """Dispatch ``event`` to its type's handler."""
        handler = self.handlers.get(type(event))
        return [] if handler is None else await handler(event)
