"""The delivery state machine (services/dispatcher/machine.py) against a simple
reference model, driven by hypothesis as the worker drives it: deliveries are
requested, attempted when due (answered 2xx, 500, 410, or refused), arrive early,
the clock moves, the endpoint is disabled by its streak and enabled again by an
operator. After every step the real state must equal the model's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from libs.callbacks.deliveries import DeliveryRecord
from services.dispatcher.machine import (
    Health,
    Outcome,
    RetryPolicy,
    after_attempt,
    before_attempt,
    health_after,
    parked,
)

POLICY = RetryPolicy(base_s=5, max_delay_s=60, retry_for_s=300, disable_after=3)
START = datetime(2026, 12, 2, tzinfo=UTC)
OUTCOMES = {"ok": Outcome(status_code=200), "error": Outcome(status_code=500, error="500"),
            "gone": Outcome(status_code=410, error="410"),
            "timeout": Outcome(error="no answer"), "refused": Outcome(error="x", refused=True)}


@dataclass
class Ref:
    """The model of one delivery: how many attempts, done or not, when next due."""

    requested: datetime
    attempts: int = 0
    status: str = "pending"
    due: datetime | None = None


class DeliveryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.records: list[DeliveryRecord] = []
        self.refs: list[Ref] = []
        self.health = Health()
        # The model of the endpoint: parked in a row, and whether it is on.
        self.streak, self.enabled = 0, True
        self.announced: list[str] = []
        self.expected_announced: list[str] = []

    def _due(self) -> list[int]:
        return [i for i, r in enumerate(self.refs)
                if r.status == "pending" and (r.due is None or r.due <= self.now)]

    @rule()
    def request(self) -> None:
        n = len(self.records)
        self.records.append(DeliveryRecord(
            delivery_id=f"dlv-{n}", endpoint_id="cb-1", tenant_id="t", source_event_id=f"e{n}",
            source_type="webhook.failed", signal_id="s", requested_at=self.now,
            request_seq=n + 1))
        self.refs.append(Ref(self.now))

    @rule(seconds=st.floats(min_value=0.0, max_value=200.0))
    def time_passes(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    @precondition(lambda self: bool(self._due()))
    @rule(data=st.data(), outcome=st.sampled_from(sorted(OUTCOMES)),
          rand=st.floats(min_value=0.0, max_value=0.999))
    def attempt_when_due(self, data: st.DataObject, outcome: str, rand: float) -> None:
        i = data.draw(st.sampled_from(self._due()))
        record, ref = self.records[i], self.refs[i]
        step = before_attempt(record, self.health.enabled, self.now)
        if not self.enabled:  # the model: a disabled endpoint's due deliveries park
            assert step.action == "park"
            self.records[i] = parked(record, self.now)
            ref.status = "parked"
            return
        assert step.action == "attempt"
        after = after_attempt(record, OUTCOMES[outcome], self.now, POLICY, rand)
        self.records[i] = after
        ref.attempts += 1
        if outcome == "ok":
            ref.status, ref.due = "delivered", None
        else:
            wait = min(60.0, 5.0 * 2 ** (ref.attempts - 1)) * (1 - 0.2 * rand)
            late = (self.now + timedelta(seconds=wait) - ref.requested).total_seconds() > 300
            if outcome == "gone" or late:
                ref.status, ref.due = "parked", None
            else:
                ref.due = self.now + timedelta(seconds=wait)
        if ref.status != "pending":
            self._ended(ref.status == "delivered", outcome == "gone")

    def _ended(self, delivered: bool, gone: bool) -> None:
        self.health, changes = health_after(self.health, delivered=delivered, gone=gone,
                                            policy=POLICY)
        self.announced += changes
        was_failing = self.streak > 0
        if delivered:
            self.streak = 0
            self.expected_announced += ["recovered"] if was_failing else []
            return
        self.streak += 1
        self.expected_announced += [] if was_failing else ["failing"]
        if self.enabled and (gone or self.streak >= 3):
            self.enabled = False
            self.expected_announced.append("disabled")

    @precondition(lambda self: any(r.status == "pending" and r.due is not None
                                   and r.due > self.now for r in self.refs))
    @rule(data=st.data())
    def arrives_early(self, data: st.DataObject) -> None:
        early = [i for i, r in enumerate(self.refs) if r.status == "pending"
                 and r.due is not None and r.due > self.now]
        i = data.draw(st.sampled_from(early))
        step = before_attempt(self.records[i], self.health.enabled, self.now)
        due = self.refs[i].due
        assert due is not None
        if self.enabled and (due - self.now).total_seconds() > 0.05:
            assert step.action == "wait"
            assert abs(step.wait_s - (due - self.now).total_seconds()) < 1e-6

    @precondition(lambda self: any(r.status != "pending" for r in self.refs))
    @rule(data=st.data())
    def ended_ones_are_done(self, data: st.DataObject) -> None:
        i = data.draw(st.sampled_from([i for i, r in enumerate(self.refs)
                                       if r.status != "pending"]))
        assert before_attempt(self.records[i], True, self.now).action == "done"

    @precondition(lambda self: not self.enabled)
    @rule()
    def operator_enables_it_again(self) -> None:
        # The API clears the dispatcher's marks when it switches the endpoint on.
        self.health, self.streak, self.enabled = Health(), 0, True

    @invariant()
    def the_deliveries_are_the_models(self) -> None:
        for record, ref in zip(self.records, self.refs, strict=True):
            assert (record.status, record.attempts) == (ref.status, ref.attempts)
            if ref.status == "pending" and ref.due is not None:
                assert record.next_attempt_at is not None
                assert abs((record.next_attempt_at - ref.due).total_seconds()) < 1e-6
                # Never scheduled past the retry period.
                assert (record.next_attempt_at - record.requested_at).total_seconds() <= 300
            if ref.status != "pending":
                assert record.next_attempt_at is None and record.ended_at is not None

    @invariant()
    def the_endpoint_is_the_models(self) -> None:
        assert (self.health.streak, self.health.failing, self.health.enabled) == \
            (self.streak, self.streak > 0, self.enabled)
        assert self.announced == self.expected_announced


DeliveryMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, derandomize=True,
    database=None, suppress_health_check=[HealthCheck.too_slow])
TestDeliveryMachine = DeliveryMachine.TestCase


def test_the_schedule_doubles_to_its_cap_and_jitter_only_shortens() -> None:
    policy = RetryPolicy(base_s=5, max_delay_s=3600, retry_for_s=86_400)
    assert [policy.delay(n, 0.0) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert policy.delay(20, 0.0) == 3600 and policy.delay(10_000, 0.0) == 3600
    assert policy.delay(1, 0.999) >= 4.0 and policy.delay(1, 0.5) == 4.5


def test_a_day_of_default_retries_is_about_thirty_attempts() -> None:
    policy = RetryPolicy()
    record = DeliveryRecord(delivery_id="d", endpoint_id="e", tenant_id="t",
                            source_event_id="x", source_type="webhook.failed", signal_id="s",
                            requested_at=START, request_seq=1)
    now = START
    while record.status == "pending":
        record = after_attempt(record, OUTCOMES["error"], now, policy, 0.0)
        now = record.next_attempt_at or now
    assert record.status == "parked" and 25 <= record.attempts <= 35
    assert (record.last_attempt_at - START) <= timedelta(days=1)  # type: ignore[operator]
