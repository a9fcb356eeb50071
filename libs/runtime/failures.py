"""Building the ``webhook.failed`` event that ends a signal."""

from __future__ import annotations

from typing import Any, Protocol

from contracts import streams
from contracts.events import AnyEvent, Stage, WebhookFailed
from libs.runtime.clock import Clock
from libs.runtime.consumer import Outgoing
from libs.runtime.ids import derived_event_id


class Routed(Protocol):
    """Anything that says which signal and tenant it belongs to."""

    @property
    def signal_id(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...


def failure(
    cause: Routed, stage: Stage, code: str, reason: str, clock: Clock,
    details: dict[str, Any] | None = None,
) -> Outgoing:
    """A terminal failure for the signal of ``cause``, published once per stage."""
    event = WebhookFailed(
        event_id=derived_event_id(cause.signal_id, f"failed:{stage}"),
        signal_id=cause.signal_id,
        tenant_id=cause.tenant_id,
        occurred_at=clock.now(),
        strategy_id=getattr(cause, "strategy_id", ""),
        account_id=getattr(cause, "account_id", ""),
        stage=stage,
        code=code,
        reason=reason,
        details=details or {},
    )
    return Outgoing(event, streams.message_id(cause.signal_id, "failed"))


def exhausted(stage: Stage, clock: Clock) -> Any:
    """An ``on_exhausted`` callback for a consumer of ``stage``."""

    def _on_exhausted(event: AnyEvent, reason: str) -> list[Outgoing]:
        return [failure(event, stage, "internal_error",
                        f"gave up after repeated errors: {reason}", clock)]

    return _on_exhausted
