"""Which endpoints are told about an event (filters, tenants), what they are told, and
the ids that make a repeated event request nothing twice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from contracts import streams
from contracts.events import (
    CALLBACK_EVENT_TYPES,
    AccountResumed,
    CallbackRequested,
    OrderPartiallyFilled,
    event_type,
)
from libs.callbacks.deliveries import DeliveryRecord
from libs.callbacks.redeliver import in_range
from libs.registry.models import CallbackEndpoint
from services.dispatcher.fanout import SUBSCRIBABLE, delivery_id_for, requests_for
from services.dispatcher.sender import body_of
from tests.factories import (
    ACCOUNT_ID,
    NOW,
    STRATEGY_ID,
    TENANT_ID,
    make_broker_order,
    make_failed,
    make_received,
    make_trade_executed,
)


def endpoint(**fields: Any) -> CallbackEndpoint:
    return CallbackEndpoint(**{"id": "cb-1", "tenant_id": TENANT_ID,
                               "url": "https://hooks.example.com/x", "secret": "whsec_x",
                               "event_types": list(CALLBACK_EVENT_TYPES), **fields})


def requested(event: Any, *endpoints: CallbackEndpoint) -> list[CallbackRequested]:
    out = [o.event for o in requests_for(event, endpoints, NOW)]
    assert all(isinstance(e, CallbackRequested) for e in out)
    return out  # type: ignore[return-value]


def test_every_subscribable_type_has_a_handler() -> None:
    assert sorted(str(c.__struct_config__.tag) for c in SUBSCRIBABLE) == \
        sorted(CALLBACK_EVENT_TYPES)


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` one token, ``>`` the rest (one or more)."""
    want, have = pattern.split("."), subject.split(".")
    for n, token in enumerate(want):
        if token == ">":
            return len(have) > n
        if n >= len(have) or token not in ("*", have[n]):
            return False
    return len(want) == len(have)


@pytest.mark.parametrize("kind", CALLBACK_EVENT_TYPES)
def test_the_dispatcher_consumes_every_subscribable_type(kind: str) -> None:
    """An endpoint may subscribe only to what the dispatcher's consumer receives (a
    type missing from its filter, like ``order.partially_filled`` once, is never told)."""
    subject = f"{kind}.{TENANT_ID}.{ACCOUNT_ID}.{STRATEGY_ID}"
    assert any(_matches(f, subject) for f in streams.DISPATCHER.filter_subjects)


def test_a_partial_fill_is_requested_for_an_endpoint_that_wants_it() -> None:
    partial = OrderPartiallyFilled(**{
        "event_id": "e-p", "signal_id": "sig-p", "tenant_id": TENANT_ID, "occurred_at": NOW,
        "strategy_id": STRATEGY_ID, "account_id": ACCOUNT_ID, "broker": "paper",
        "order": make_broker_order(filled_quantity=Decimal(4))})
    [request] = requested(partial, endpoint(event_types=["order.partially_filled"]))
    assert request.source_type == "order.partially_filled"
    assert request.payload["order"]["filled_quantity"] == "4"
    assert not requested(partial, endpoint(event_types=["webhook.trade_executed"]))


@pytest.mark.parametrize(("fields", "told"), [
    ({}, True),
    ({"event_types": ["webhook.failed"]}, False),  # wants only failures
    ({"strategy_ids": [STRATEGY_ID]}, True),
    ({"strategy_ids": ["strat-other"]}, False),
    ({"account_ids": [ACCOUNT_ID]}, True),
    ({"account_ids": ["acct-other"]}, False),
    ({"strategy_ids": [STRATEGY_ID], "account_ids": ["acct-other"]}, False),
    ({"enabled": False}, False),
    ({"tenant_id": "other-tenant"}, False),  # never another tenant's events
])
def test_filters(fields: dict[str, Any], told: bool) -> None:
    assert bool(requested(make_trade_executed(), endpoint(**fields))) is told


def test_an_event_without_a_strategy_passes_only_an_empty_strategy_filter() -> None:
    resumed = AccountResumed(event_id="e-r", signal_id="resume:1", tenant_id=TENANT_ID,
                             occurred_at=NOW, account_id=ACCOUNT_ID,
                             record={"id": ACCOUNT_ID, "alpaca": {"secret_key": "enc:x"}})
    assert not requested(resumed, endpoint(strategy_ids=[STRATEGY_ID]))
    [request] = requested(resumed, endpoint(account_ids=[ACCOUNT_ID]))
    # A registry record (sealed secrets) never leaves the platform.
    assert "record" not in request.payload


def test_one_request_per_endpoint_with_stable_ids_and_the_event_as_payload() -> None:
    event = make_failed()
    first = requested(event, endpoint(), endpoint(id="cb-2"))
    again = requested(event, endpoint(), endpoint(id="cb-2"))
    assert [r.delivery_id for r in first] == [r.delivery_id for r in again]
    assert [r.event_id for r in first] == [r.event_id for r in again]
    assert len({r.delivery_id for r in first}) == 2
    one = first[0]
    assert one.delivery_id == delivery_id_for(event.event_id, "cb-1")
    assert (one.source_event_id, one.source_type, one.signal_id) == \
        (event.event_id, "webhook.failed", event.signal_id)
    assert one.payload["event_id"] == event.event_id and one.payload["type"] == "webhook.failed"
    outs = requests_for(event, [endpoint()], NOW)
    assert outs[0].msg_id == f"{one.delivery_id}:requested"


def test_the_body_is_standard_webhooks_shaped_and_the_same_every_time() -> None:
    [request] = requested(make_received(), endpoint())
    body = body_of(request)
    assert body == body_of(request)
    decoded = orjson.loads(body)
    assert decoded["type"] == event_type(make_received())
    assert decoded["timestamp"] == request.payload["occurred_at"]
    assert decoded["data"]["event_id"] == request.source_event_id


def test_a_redelivery_range_is_half_open_and_may_ask_for_a_status() -> None:
    def record(minutes: int, status: str) -> DeliveryRecord:
        return DeliveryRecord(delivery_id=f"dlv-{minutes}", endpoint_id="cb-1",
                              tenant_id=TENANT_ID, source_event_id=f"e{minutes}",
                              source_type="webhook.failed", signal_id="s",
                              requested_at=NOW + timedelta(minutes=minutes), request_seq=1,
                              status=status)  # type: ignore[arg-type]

    records = [record(0, "parked"), record(5, "delivered"), record(10, "parked")]
    picked = in_range(records, NOW, NOW + timedelta(minutes=10), None)
    assert [r.delivery_id for r in picked] == ["dlv-0", "dlv-5"]
    assert [r.delivery_id for r in in_range(records, NOW, None, "parked")] == \
        ["dlv-0", "dlv-10"]
