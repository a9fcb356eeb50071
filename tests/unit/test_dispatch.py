"""Handler tables: each service's consumed event types, and what others get."""

from __future__ import annotations

from typing import Any

from contracts.events import WebhookFailed, WebhookReceived
from libs.runtime.consumer import Outgoing
from libs.runtime.dispatch import HandlerTable
from libs.runtime.ids import derived_event_id
from services.validator.handlers import Validator
from tests.factories import make_failed, make_received


async def test_an_event_goes_to_its_types_handler_and_others_get_nothing() -> None:
    seen: list[Any] = []

    async def on_failed(event: WebhookFailed) -> list[Outgoing]:
        seen.append(event)
        return [Outgoing(event, derived_event_id(event.signal_id, "x"))]

    table = HandlerTable({WebhookFailed: on_failed})
    failed = make_failed()
    assert [o.event for o in await table(failed)] == [failed]
    assert await table(make_received()) == []
    assert seen == [failed]
    assert table.handles() == ["WebhookFailed"]


def test_each_pipeline_service_says_what_it_consumes() -> None:
    validator = Validator(registry=None, clock=None)  # type: ignore[arg-type]
    assert validator.handle.handles() == [WebhookReceived.__name__]
