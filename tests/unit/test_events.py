"""The event catalogue on the wire, and the subjects events are published on."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any, get_args

import msgspec
import pytest

from contracts.events import (
    AccountOpened,
    AnyEvent,
    Event,
    TradeExecuted,
    WebhookReceived,
    decode_event,
    encode_event,
    event_from_builtins,
    event_to_builtins,
    event_type,
)
from contracts.subjects import (
    EMPTY_TOKEN,
    dead_letter_subject,
    subject_for,
    subject_template,
    token,
)
from tests.factories import (
    make_account_opened,
    make_failed,
    make_fill,
    make_order,
    make_order_requested,
    make_received,
    make_signal,
    make_strategy_registered,
    make_tenant_created,
    make_trade_executed,
    make_validated,
    sample_of,
)


def every_event() -> list[Event]:
    """One of each event type, with nested structs and decimals filled in."""
    return [
        make_received(),
        make_validated(signal=make_signal(
            quantity=D("0.25"), stop_loss=D("140.5"), take_profit=D(170), comment="c",
            alert_id="a-1", metadata={"desk": "ny", "n": [1, 2]},
        )),
        make_order_requested(order=make_order(close_position=True, time_in_force="gtc")),
        make_trade_executed(fill=make_fill(fee=D("0.0123"), position_quantity=D(-3),
                                           cash_after=D("99.99"), realised_pnl=D(-5))),
        make_failed(),
        make_tenant_created(),
        make_account_opened(starting_cash=D("1234.56")),
        make_strategy_registered(),
    ]


EVENTS = every_event()
TYPES = [
    "webhook.received", "webhook.validated", "order.requested", "webhook.trade_executed",
    "webhook.failed", "registry.tenant_created", "registry.account_opened",
    "registry.strategy_registered",
]
# The whole catalogue: every type a decoder accepts, each with every field set.
CATALOGUE = get_args(AnyEvent)
SAMPLES = [sample_of(cls) for cls in CATALOGUE]
TAGS = [str(cls.__struct_config__.tag) for cls in CATALOGUE]


def test_the_catalogue_is_every_event_class() -> None:
    def leaves(cls: type[Event]) -> set[type[Event]]:
        subs = cls.__subclasses__()
        return set().union(*(leaves(s) for s in subs)) if subs else {cls}

    assert set(CATALOGUE) == leaves(Event)
    assert len(set(TAGS)) == len(TAGS)


@pytest.mark.parametrize("event", EVENTS + SAMPLES, ids=TYPES + TAGS)
def test_encode_decode_round_trip(event: Event) -> None:
    decoded = decode_event(encode_event(event))

    assert type(decoded) is type(event)
    assert decoded == event


@pytest.mark.parametrize(("event", "name"), list(zip(SAMPLES, TAGS, strict=True)), ids=TAGS)
def test_event_type_is_the_wire_tag_and_the_subject_s_start(event: Event, name: str) -> None:
    assert event_type(event) == name
    assert json.loads(encode_event(event))["type"] == name
    assert subject_for(event).startswith(f"{name}.{event.tenant_id}")


@pytest.mark.parametrize("event", EVENTS + SAMPLES, ids=TYPES + TAGS)
def test_builtins_round_trip(event: Event) -> None:
    data = event_to_builtins(event)

    assert data["type"] == event_type(event)
    assert json.loads(json.dumps(data)) == data  # plain JSON-safe values
    assert event_from_builtins(data) == event


def test_decimals_and_times_travel_as_strings() -> None:
    data = json.loads(encode_event(make_account_opened(starting_cash=D("1234.50"))))

    assert data["starting_cash"] == "1234.50"
    assert data["occurred_at"] == "2024-05-01T14:30:00Z"
    assert data["schema_version"] == 1


def test_unknown_fields_are_ignored_on_decode() -> None:
    data: dict[str, Any] = json.loads(encode_event(make_trade_executed()))
    data["added_in_v2"] = {"x": 1}
    data["fill"]["venue"] = "XNAS"

    decoded = decode_event(json.dumps(data).encode())

    assert decoded == make_trade_executed()


def test_unknown_fields_are_ignored_by_event_from_builtins() -> None:
    data = event_to_builtins(make_received())
    data["future"] = True

    assert event_from_builtins(data) == make_received()


def test_missing_defaults_are_filled_on_decode() -> None:
    data = json.loads(encode_event(make_failed()))
    for key in ("strategy_id", "account_id", "details", "schema_version"):
        del data[key]

    decoded = decode_event(json.dumps(data).encode())

    assert decoded == make_failed(strategy_id="", account_id="", details={})


def test_unknown_type_and_missing_fields_are_decode_errors() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_event(b'{"type": "webhook.exploded", "event_id": "e"}')
    with pytest.raises(msgspec.ValidationError):
        decode_event(b'{"type": "webhook.failed", "event_id": "e"}')


def test_events_are_frozen() -> None:
    event = make_account_opened()

    with pytest.raises(AttributeError):
        event.name = "changed"  # type: ignore[misc]


def test_nested_decimals_keep_their_exact_value() -> None:
    decoded = decode_event(encode_event(make_trade_executed(
        fill=make_fill(average_price=D("0.1"), quantity=D("3"), fee=D("0.000001")))))

    assert isinstance(decoded, TradeExecuted)
    assert decoded.fill.average_price == D("0.1")
    assert str(decoded.fill.fee) == "0.000001"


# --- subjects -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "subject"),
    [
        (make_received(), "webhook.received.acme.strat-1"),
        (make_validated(), "webhook.validated.acme.acc-1.strat-1"),
        (make_order_requested(), "order.requested.acme.acc-1.strat-1"),
        (make_trade_executed(), "webhook.trade_executed.acme.acc-1.strat-1"),
        (make_failed(), "webhook.failed.acme.acc-1.strat-1"),
        (make_tenant_created(), "registry.tenant_created.acme"),
        (make_account_opened(), "registry.account_opened.acme"),
        (make_strategy_registered(), "registry.strategy_registered.acme"),
    ],
    ids=TYPES,
)
def test_subject_for_each_event(event: Event, subject: str) -> None:
    assert subject_for(event) == subject


def test_subject_tokens_are_sanitised() -> None:
    event = make_trade_executed(tenant_id="acme.prod", account_id="acc *1", strategy_id="s>")

    assert subject_for(event) == "webhook.trade_executed.acme_prod.acc__1.s_"


def test_failed_without_route_uses_the_placeholder_token() -> None:
    assert subject_for(make_failed(strategy_id="", account_id="")) == "webhook.failed.acme._._"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("acme", "acme"),
        ("Acme_1-x", "Acme_1-x"),
        ("a.b", "a_b"),
        ("a b\tc", "a_b_c"),
        ("*", "_"),
        (">", "_"),
        ("tenant.*.>", "tenant____"),
        ("café", "caf_"),
        ("", EMPTY_TOKEN),
    ],
)
def test_token(value: str, expected: str) -> None:
    assert token(value) == expected


def test_subject_for_rejects_the_base_class() -> None:
    base = Event(event_id="e", signal_id="s", tenant_id="t",
                 occurred_at=make_received().occurred_at)

    with pytest.raises(TypeError):
        subject_for(base)


def test_dead_letter_subject() -> None:
    assert dead_letter_subject("risk.v1") == "deadletter.risk_v1"


def test_received_subject_is_a_single_level_per_token() -> None:
    event: WebhookReceived = make_received(tenant_id="a.b.c", strategy_id="x.y")
    opened: AccountOpened = make_account_opened(tenant_id="a.b")

    assert subject_for(event).split(".") == ["webhook", "received", "a_b_c", "x_y"]
    assert subject_for(opened).split(".") == ["registry", "account_opened", "a_b"]


@pytest.mark.parametrize(("event", "name"), list(zip(SAMPLES, TAGS, strict=True)), ids=TAGS)
def test_every_subject_is_its_template_filled(event: Event, name: str) -> None:
    # The documented subjects (contracts/subjects.py's docstring, docs/events.md).
    expected = {
        "webhook.received": "{tenant}.{strategy}",
        "account.breaker_tripped": "{tenant}.{account}",
        "account.resumed": "{tenant}.{account}",
        "security.auth_failures": "{tenant}",
    }.get(name, "{tenant}" if name.startswith("registry.") else
          "{tenant}.{endpoint}" if name.startswith("callback.") else
          "{tenant}.{account}.{strategy}")
    assert subject_template(type(event)) == f"{name}.{expected}"
    filled = expected.format(tenant=token(event.tenant_id),
                             account=token(getattr(event, "account_id", "")),
                             strategy=token(getattr(event, "strategy_id", "")),
                             endpoint=token(getattr(event, "endpoint_id", "")))
    assert subject_for(event) == f"{name}.{filled}"
