"""Which endpoints are told about an event (filters, tenants), what they are told, and
the ids that make a repeated event request nothing twice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

import msgspec
import orjson
import pytest
from harness import master_box

from contracts import streams
from contracts.events import (
    CALLBACK_EVENT_TYPES,
    AccountResumed,
    CallbackRequested,
    OrderPartiallyFilled,
    decode_event,
    encode_event,
    event_type,
)
from libs.callbacks.deliveries import DeliveryRecord
from libs.callbacks.redeliver import in_range
from libs.registry.cache import CachedRegistry
from libs.registry.models import CallbackEndpoint
from libs.runtime.envelope import Skipped
from services.dispatcher.fanout import SUBSCRIBABLE, Fanout, delivery_id_for, requests_for
from services.dispatcher.sender import body_of
from tests.factories import (
    ACCOUNT_ID,
    NOW,
    STRATEGY_ID,
    TENANT_ID,
    ManualClock,
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


# The consumer's decode: events no endpoint of the tenant wants are skipped undecoded.

def _fanout() -> tuple[Fanout, CachedRegistry]:
    registry = CachedRegistry(cast(Any, None), master_box())  # only its copy is read
    return Fanout(registry, ManualClock()), registry


async def _consume(fanout: Fanout, event: Any) -> list[Any]:
    """What the consumer publishes for ``event``: its bytes decoded, then handled."""
    out = await fanout.table()(fanout.decode(encode_event(event)))
    return [o.event for o in out]


async def test_an_event_of_a_tenant_without_endpoints_is_skipped_and_requests_nothing(
) -> None:
    fanout, _ = _fanout()
    decoded = fanout.decode(encode_event(make_trade_executed()))
    assert decoded == Skipped("webhook.trade_executed", TENANT_ID)
    assert await _consume(fanout, make_trade_executed()) == []


async def test_a_type_no_endpoint_subscribes_to_is_skipped_a_wanted_one_is_requested(
) -> None:
    fanout, registry = _fanout()
    registry.remember(endpoint(event_types=["webhook.trade_executed"]))
    registry.remember(endpoint(id="cb-off", event_types=["webhook.received"], enabled=False))
    registry.remember(endpoint(id="cb-other", tenant_id="other-tenant",
                               event_types=["webhook.failed"]))
    assert isinstance(fanout.decode(encode_event(make_received())), Skipped)
    assert isinstance(fanout.decode(encode_event(make_failed())), Skipped)
    executed = make_trade_executed()
    [request] = await _consume(fanout, executed)
    assert isinstance(request, CallbackRequested)
    assert (request.endpoint_id, request.source_event_id, request.source_type) == \
        ("cb-1", executed.event_id, "webhook.trade_executed")
    assert request.delivery_id == delivery_id_for(executed.event_id, "cb-1")


async def test_a_registry_change_takes_effect_at_the_next_event() -> None:
    """An endpoint the watch brings in is wanted at once; one disabled, no longer."""
    fanout, registry = _fanout()
    failed = make_failed()
    assert await _consume(fanout, failed) == []
    added = endpoint(event_types=["webhook.failed"])
    registry.remember(added)
    assert [r.endpoint_id for r in await _consume(fanout, failed)] == ["cb-1"]
    registry.remember(added.model_copy(update={"enabled": False}))
    assert isinstance(fanout.decode(encode_event(failed)), Skipped)


@pytest.mark.parametrize("data", [
    b"not json", b'{"type": "webhook.failed"}', b'{"type": "no.such", "tenant_id": "t"}',
    b'{"type": 1, "tenant_id": "t"}', b"[]",
])
def test_undecodable_data_still_raises_the_decode_error(data: bytes) -> None:
    """What the consumer parks on the dead-letter subject, as before."""
    fanout, _ = _fanout()
    with pytest.raises(msgspec.DecodeError):
        decode_event(data)
    with pytest.raises(msgspec.DecodeError):
        fanout.decode(data)


def test_a_wanted_event_with_bad_fields_still_raises_the_decode_error() -> None:
    fanout, registry = _fanout()
    registry.remember(endpoint())
    with pytest.raises(msgspec.DecodeError):
        fanout.decode(b'{"type": "webhook.failed", "tenant_id": "%s", "event_id": 1}'
                      % TENANT_ID.encode())
