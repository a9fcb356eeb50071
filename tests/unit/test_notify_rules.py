"""Notifications: which events become which text, and the collapsing / rate-limit
rule (libs/notify), checked against a simple model with hypothesis."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.events import AuthFailuresAlert, BreakerTripped, TradeExecuted, WebhookFailed
from libs.notify.collapse import Batch, Collapser
from libs.notify.messages import MAX_LINES, Notice, fresh, notice_for, render
from libs.notify.summary import DailyTally, day_to_summarise, summary_batch_id, summary_message
from libs.registry.models import NotificationChannel, Tenant
from libs.registry.store import Registry
from libs.registry.vault import SecretBox, new_master_key
from libs.registry.views import MASK, tenant_view
from tests.factories import make_fill

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
BASE = {"event_id": "e1", "signal_id": "s1", "tenant_id": "t1", "occurred_at": NOW}


def test_a_fill_reads_as_side_quantity_symbol_and_price() -> None:
    event = TradeExecuted(**BASE, strategy_id="bot", account_id="acc", broker="paper",
                          fill=make_fill(symbol="AAPL", side="buy", quantity=Decimal("10"),
                                         average_price=Decimal("187.50")))
    notice = notice_for(event)
    assert notice is not None and notice.topic == "fills" and notice.tenant_id == "t1"
    assert notice.line == "buy 10 AAPL @ 187.5 (account acc, strategy bot)"


def test_dry_runs_tell_nobody() -> None:
    assert notice_for(TradeExecuted(**BASE, strategy_id="b", account_id="a", broker="paper",
                                    dry_run=True)) is None
    assert notice_for(WebhookFailed(**BASE, stage="risk", code="x", reason="y",
                                    dry_run=True)) is None


def test_failures_breakers_and_auth_alerts_have_their_topics() -> None:
    failed = notice_for(WebhookFailed(**BASE, strategy_id="bot", stage="risk",
                                      code="limit", reason="too big"))
    assert failed is not None and failed.topic == "failures"
    assert "limit at risk: too big" in failed.line
    trip = notice_for(BreakerTripped(**BASE, account_id="acc", kind="sl", equity=Decimal(80),
                                     threshold=Decimal(80), base_equity=Decimal(100),
                                     paused=True))
    assert trip is not None and trip.topic == "breaker" and "account paused" in trip.line
    alert = notice_for(AuthFailuresAlert(**BASE, strategy_hint="gold", source_ip="1.2.3.4",
                                         failures=12, window_s=60, threshold=10))
    assert alert is not None and alert.topic == "auth_failures"
    assert alert.line.startswith("12 failed authentications for gold")


def test_one_notice_is_its_line_and_many_are_counted() -> None:
    assert render("fills", ["a"], 1).body == "a"
    many = render("failures", [f"f{i}" for i in range(30)], 40)
    assert many.title == "tradehooks: 40 failed signals"
    assert many.body.count("•") == MAX_LINES and many.body.endswith("… and 30 more")


def test_old_events_are_not_news() -> None:
    assert fresh(NOW - timedelta(seconds=30), NOW, 60)
    assert not fresh(NOW - timedelta(seconds=90), NOW, 60)


KEY = ("t1", "ops", "failures")


def _notice(i: int) -> Notice:
    return Notice("t1", "failures", f"n{i}", f"e{i}")


def test_a_burst_is_one_message() -> None:
    collapser = Collapser()
    for i in range(25):
        collapser.add(KEY, _notice(i), 100.0 + i * 0.1, collapse_s=5, min_interval_s=60)
    assert collapser.due(104.9) == []
    [batch] = collapser.due(105.0)
    assert batch.total == 25 and batch.lines[0] == "n0"
    assert collapser.pending() == 0


def test_after_a_message_the_next_waits_for_the_interval() -> None:
    collapser = Collapser()
    collapser.add(KEY, _notice(0), 0.0, collapse_s=1, min_interval_s=60)
    assert len(collapser.due(1.0)) == 1
    collapser.add(KEY, _notice(1), 2.0, collapse_s=1, min_interval_s=60)
    assert collapser.due(30.0) == []
    assert [b.total for b in collapser.due(61.0)] == [1]


def test_a_message_sent_before_a_restart_still_holds_the_next_for_the_interval() -> None:
    restarted = Collapser()
    restarted.sent_before(KEY, 0.0, min_interval_s=60)  # the last process's message
    restarted.sent_before(KEY, -30.0, min_interval_s=60)  # an older record changes nothing
    restarted.add(KEY, _notice(1), 2.0, collapse_s=1, min_interval_s=60)
    assert restarted.due(30.0) == []
    assert [b.total for b in restarted.due(60.0)] == [1]
    quiet = Collapser()
    quiet.sent_before(KEY, 0.0, min_interval_s=60)
    assert quiet.due(61.0) == [] and quiet.pending() == 0  # forgotten once quiet
    quiet.add(KEY, _notice(2), 62.0, collapse_s=1, min_interval_s=60)
    assert [b.total for b in quiet.due(63.0)] == [1]


# Operations: ("add", time) or ("tick", time), applied in time order.
ops = st.lists(st.tuples(st.sampled_from(["add", "tick"]),
                         st.floats(min_value=0, max_value=500, allow_nan=False)),
               max_size=60)


@settings(max_examples=300, deadline=None)
@given(ops=ops, collapse_s=st.floats(min_value=0, max_value=20),
       min_interval_s=st.floats(min_value=0, max_value=120))
def test_collapsing_matches_the_model(ops: list[tuple[str, float]], collapse_s: float,
                                      min_interval_s: float) -> None:
    """Every notice is sent exactly once and in order; a key's messages are at least
    ``min_interval_s`` apart; none goes before its first notice waited ``collapse_s``;
    and a last tick late enough sends everything."""
    collapser = Collapser(keep=1000)
    sent: list[tuple[float, Batch]] = []
    added: list[tuple[float, str]] = []
    for i, (op, at) in enumerate(sorted(ops, key=lambda o: o[1])):
        if op == "add":
            collapser.add(KEY, _notice(i), at, collapse_s, min_interval_s)
            added.append((at, f"n{i}"))
        else:
            sent.extend((at, batch) for batch in collapser.due(at))
    end = max([at for at, _ in added], default=0.0) + collapse_s + min_interval_s
    sent.extend((end, batch) for batch in collapser.due(end))
    # The model: sends are a partition of the adds, in order.
    assert [line for _, b in sent for line in b.lines] == [line for _, line in added]
    assert sum(b.total for _, b in sent) == len(added)
    times = [at for at, _ in sent]
    assert all(b >= a + min_interval_s for a, b in itertools.pairwise(times))
    firsts = iter(added)
    for at, batch in sent:
        first_at, _ = next(firsts)
        for _ in range(batch.total - 1):
            next(firsts)
        assert at >= first_at + collapse_s
    assert collapser.pending() == 0


def _channel(**overrides: object) -> NotificationChannel:
    fields: dict[str, object] = {"name": "ops", "kind": "telegram", "secret": "123:abc",
                                 "chat_id": "42"}
    return NotificationChannel.model_validate({**fields, **overrides})


def test_channel_secrets_are_sealed_at_rest_and_masked_in_views() -> None:
    tenant = Tenant(id="t1", name="T", notifications=[_channel()])
    registry = Registry(None, SecretBox(new_master_key()))  # type: ignore[arg-type]
    stored = registry.stored_form(tenant)
    assert stored["notifications"][0]["secret"].startswith("enc:")
    assert registry.from_stored_form(stored, Tenant) == tenant
    assert tenant_view(tenant)["notifications"][0]["secret"] == MASK


def test_a_tenant_reads_back_from_its_stored_form_with_sealed_channel_secrets() -> None:
    """Registry events carry records with sealed secrets, and what-if rebuilds the
    tenant from them without the key: a sealed webhook URL or bot token is not judged
    again (it was when stored; the what-if page once failed on it)."""
    tenant = Tenant(id="t1", name="T", notifications=[
        _channel(), _channel(name="hook", kind="discord",
                             secret="https://discord.example/api/webhooks/1/x")])
    stored = Registry(None, SecretBox(new_master_key())).stored_form(tenant)  # type: ignore[arg-type]
    rebuilt = Tenant.model_validate(stored)
    assert [c.secret[:4] for c in rebuilt.notifications] == ["enc:", "enc:"]


def test_channels_need_what_they_send_with() -> None:
    with pytest.raises(ValueError, match="chat_id"):
        Tenant(id="t1", name="T", notifications=[_channel(chat_id="")])
    with pytest.raises(ValueError, match="email"):
        Tenant(id="t1", name="T", notifications=[_channel(kind="email", secret="")])
    with pytest.raises(ValueError, match="https"):
        Tenant(id="t1", name="T", notifications=[_channel(kind="slack", secret="ftp://x")])
    with pytest.raises(ValueError, match="repeat"):
        Tenant(id="t1", name="T", notifications=[_channel(), _channel()])


def test_the_summary_is_due_from_its_hour_until_midnight() -> None:
    evening = datetime(2026, 1, 5, 21, 0, tzinfo=UTC)
    assert day_to_summarise(evening - timedelta(minutes=1), 21) is None
    assert day_to_summarise(evening, 21) == evening.date()
    assert day_to_summarise(evening.replace(hour=23, minute=59), 21) == evening.date()
    assert day_to_summarise(evening + timedelta(hours=3), 21) is None  # the next morning
    assert day_to_summarise(evening.replace(hour=0), 0) == evening.date()


def _event(n: int, kind: str, tenant: str = "t1", at: datetime = NOW,
           **fields: object) -> TradeExecuted | WebhookFailed:
    base = {**BASE, "event_id": f"e{n}", "tenant_id": tenant, "occurred_at": at}
    if kind == "fill":
        return TradeExecuted(**base, strategy_id="b", account_id="a",  # type: ignore[arg-type]
                             broker="paper", fill=make_fill(), **fields)
    return WebhookFailed(**base, stage="risk", code="x", reason="y",  # type: ignore[arg-type]
                         **fields)


def test_the_tally_counts_each_event_once_per_tenant_and_utc_day() -> None:
    tally, day = DailyTally(), NOW.date()
    events = [_event(1, "fill"), _event(2, "fill"), _event(3, "failed"),
              _event(1, "fill"),  # the same event again (a redelivery): once
              _event(4, "fill", at=NOW - timedelta(days=1)),
              _event(5, "fill", at=datetime(2026, 1, 5, 23, 30, tzinfo=UTC) +
                     timedelta(hours=1)),  # 00:30 UTC the next day
              _event(6, "failed", dry_run=True),  # nobody is told a dry run
              _event(7, "failed", tenant="t2")]
    assert [tally.count(e) for e in events] == [True, True, True, False, True, True,
                                                 False, True]
    counts = tally.of_day(day)
    assert counts == {"t1": {"fills": 2, "failures": 1}, "t2": {"failures": 1}}
    assert tally.of_day(day + timedelta(days=1)) == {"t1": {"fills": 1}}
    message = summary_message("t1", day, counts["t1"])
    assert message.title == "tradehooks: daily summary of t1 for 2026-01-05"
    assert message.body.splitlines()[:3] == ["• 2 fill(s)", "• 1 failed signal(s)",
                                             "• 0 breaker trip(s)"]


def test_a_summary_has_one_stable_id_per_channel_and_day() -> None:
    day = NOW.date()
    assert summary_batch_id("t1", "tg", day) == summary_batch_id("t1", "tg", day)
    assert len({summary_batch_id("t1", "tg", day), summary_batch_id("t1", "mail", day),
                summary_batch_id("t2", "tg", day),
                summary_batch_id("t1", "tg", day + timedelta(days=1))}) == 4


def test_a_masked_secret_sent_back_keeps_the_stored_one() -> None:
    from services.api.admin_tenants import kept_channel_secrets

    tenant = Tenant(id="t1", name="T", notifications=[_channel()])
    body = {"notifications": [{**tenant_view(tenant)["notifications"][0], "chat_id": "7"},
                              {"name": "new", "kind": "telegram", "secret": MASK,
                               "chat_id": "8"}]}
    kept = kept_channel_secrets(tenant, body)["notifications"]
    assert kept[0]["secret"] == "123:abc" and kept[0]["chat_id"] == "7"
    assert kept[1]["secret"] == ""  # no stored channel of that name: nothing to keep
    assert kept_channel_secrets(tenant, {"name": "x"}) == {"name": "x"}
