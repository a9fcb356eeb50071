"""Dead letters on the running system: a message no service can read is parked once
per consumer with where it came from and why, and the pipeline goes on behind it."""

from __future__ import annotations

import aiohttp
import pytest
from e2e.helpers import post_json, tv_alert
from harness import EventTap, System, provision, stored_event_ids

from contracts import streams
from contracts.events import TradeExecuted
from contracts.subjects import dead_letter_subject, token
from libs.runtime import dead_letters
from libs.runtime.bus import Bus

pytestmark = pytest.mark.e2e
GARBAGE = b'{"type": "webhook.received", "event_id": "half-an-event"'


async def test_an_unreadable_message_is_parked_and_the_pipeline_goes_on(
        system: System, bus: Bus, tap: EventTap) -> None:
    t = await provision(bus, sizing_mode="alert_contracts")
    url = system.webhook_url(t.strategy)
    # What a broken producer might publish where the validator and auditor read.
    subject = f"webhook.received.{token(t.tenant.id)}.{token(t.strategy.id)}"
    tap.expect_undecodable(GARBAGE)
    ack = await bus.js.publish(subject, GARBAGE, stream=streams.STREAM)
    async with aiohttp.ClientSession() as http:
        _, after = await post_json(http, url, tv_alert(contracts="2", price="100"))
    behind = await tap.wait_terminal(after["signal_id"])
    assert isinstance(behind, TradeExecuted), behind  # not held up by the garbage

    # Every consumer of webhook.received parks it: the validator, the auditor and the
    # callbacks' dispatcher.
    readers = ("validator", "auditor", "dispatcher")
    parked = await tap.wait_for(lambda _: len(tap.dead_letters) == len(readers)
                                and tap.dead_letters)
    assert sorted(s for s, _ in parked) == sorted(dead_letter_subject(c) for c in readers)
    assert {data for _, data in parked} == {GARBAGE}
    for consumer in readers:
        letter = await bus.js.get_last_msg(streams.STREAM, dead_letter_subject(consumer))
        headers = letter.headers or {}
        assert headers[dead_letters.ORIGINAL_SUBJECT] == subject
        assert headers[dead_letters.STREAM_SEQ] == str(ack.seq)
        assert headers[dead_letters.CONSUMER] == consumer
        assert headers[dead_letters.DELIVERIES] == "1"  # never retried: it cannot improve
        assert headers[dead_letters.REASON].startswith("undecodable: ")
    # Nothing was signalled for it, and only events reach the store.
    assert [e for e in tap.events if e.event_id == "half-an-event"] == []
    assert "half-an-event" not in stored_event_ids(system)
