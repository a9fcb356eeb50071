"""Model-based test of the auditor's checkpoints (hypothesis): rows stored in batches,
time passing, the auditor's after-batch call and its timer, in any order. A simple
model says when a checkpoint is due; after every step the files agree with it, and
every checkpoint is a signed head the chain really had."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from factories import ManualClock, make_received, make_validated
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from projections import checkpoint as cp
from projections.store import EventStore, open_store
from projections.verify import Expected, verify_chain
from services.auditor.checkpoints import Checkpointer

EVERY = 5  # rows
INTERVAL = 60.0  # seconds


class CheckpointMachine(RuleBasedStateMachine):
    """One store, one auditor's checkpointer, and the model of when it signs."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory(prefix="th-cp-model-")
        self.dir = Path(self.tmp.name) / "cp"
        self.store: EventStore = open_store(f"sqlite:///{Path(self.tmp.name) / 'e.sqlite'}")
        self.now = 0.0
        self.key = cp.Ed25519PrivateKey.generate()
        self.signer = Checkpointer(self.store, self.key, self.dir, "model",
                                   ManualClock(datetime(2026, 12, 2, tzinfo=UTC)),
                                   every_events=EVERY, interval_s=INTERVAL,
                                   monotonic=lambda: self.now)
        self.signals = 0
        self.more = 0
        # The model: what was signed last, and when.
        self.signed: list[int] = []
        self.signed_at = 0.0

    def teardown(self) -> None:
        self.store.close()
        self.tmp.cleanup()

    def head(self) -> int:
        return self.store.max_position()

    def last(self) -> int:
        return self.signed[-1] if self.signed else 0

    @rule(signals=st.integers(1, 4))
    def store_a_batch(self, signals: int) -> None:
        """The auditor stores a batch (a signal is a trail's opening row and its event)."""
        self.store.append([make_received(event_id=f"r-{n}", signal_id=f"s-{n}")
                           for n in range(self.signals, self.signals + signals)])
        self.signals += signals
        self.after_a_batch()  # as the auditor does after each batch it stored

    @rule(data=st.data())
    def store_one_more_event_of_a_signal(self, data: st.DataObject) -> None:
        """One row: a signal's trail goes on (so rows do not always come in twos)."""
        if not self.signals:
            return
        n = data.draw(st.integers(0, self.signals - 1))
        self.more += 1
        self.store.append([make_validated(event_id=f"v-{self.more}", signal_id=f"s-{n}")])
        self.after_a_batch()

    @rule(seconds=st.sampled_from([1.0, 29.0, 30.0, 60.0, 61.0, 200.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def after_a_batch(self) -> None:
        """``catch_up``: by count only, and never the first checkpoint."""
        due = bool(self.signed) and self.head() - self.last() >= EVERY
        assert self.signer.catch_up() == (1 if due else 0)
        if due:
            self.signed.append(self.head())
            self.signed_at = self.now

    @rule()
    def timer(self) -> None:
        """The timer: the first checkpoint, or one after the interval if rows came."""
        if not self.signed:
            due = self.now - self.signed_at >= INTERVAL and self.head() > 0
        else:
            due = self.now - self.signed_at >= INTERVAL and self.head() > self.last()
        assert self.signer.on_timer() == due
        if due:
            self.signed.append(self.head())
            self.signed_at = self.now

    @rule()
    def start(self) -> None:
        """The timer's first look at start: the first checkpoint if there is none."""
        due = not self.signed and self.head() > 0
        assert self.signer.first() == due
        if due:
            self.signed.append(self.head())
            self.signed_at = self.now

    @invariant()
    def the_files_are_the_model_s_checkpoints_and_the_chain_s_heads(self) -> None:
        files = sorted(self.dir.glob("checkpoint-*.json"))
        found = [cp.decode(f.read_bytes()) for f in files]
        assert [c.position for c in found] == self.signed
        for signed in found:
            assert cp.check_signature(signed, cp.public_hex(self.key)) == ""
            report = verify_chain(self.store.recorder,
                                  Expected(signed.position, bytes.fromhex(signed.hash)))
            assert report.ok, report.first_break
            assert signed.events == signed.position  # every row up to it, once


CheckpointMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("MODEL_EXAMPLES", 100)), stateful_step_count=25,
    deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow])
TestCheckpointModel = CheckpointMachine.TestCase
