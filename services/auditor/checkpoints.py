"""Periodic signed checkpoints of the chain head, written by the auditor.

With a key (``TRADEHOOKS_CHECKPOINT_KEY``) the auditor signs the event store's chain
head after every ``TRADEHOOKS_CHECKPOINT_EVERY_EVENTS`` stored rows or
``TRADEHOOKS_CHECKPOINT_INTERVAL_S`` seconds, whichever comes first (and only when
something was stored since), into ``TRADEHOOKS_CHECKPOINT_DIR`` as
``checkpoint-<position>.json`` — the format of ``tradehooks checkpoint``, which
``tradehooks verify`` checks (the newest in that directory by default).

It never signs what it has not checked: the rows after its previous checkpoint are
verified first (the whole chain the first time), so a history changed under the
auditor stops the checkpoints, loudly, instead of being vouched for. A checkpoint
that cannot be written is logged and tried again later; the auditor's storing of
events never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from libs.runtime.clock import Clock
from libs.runtime.timers import run_every
from projections import checkpoint as cp
from projections.chain import chain_of, read_transaction
from projections.store import EventStore
from projections.verify import Expected, verify_chain

log = logging.getLogger(__name__)
class Checkpointer:
    """Signs the chain head every ``every_events`` rows or ``interval_s`` seconds.

    ``catch_up`` is called by the auditor after each stored batch (it is one of its
    projectors); ``run`` is its timer, for a quiet store whose last rows would
    otherwise wait for the next batch.
    """

    def __init__(self, store: EventStore, key: Ed25519PrivateKey, directory: Path, where: str,
                 clock: Clock, every_events: int = 10_000, interval_s: float = 3600.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.key = key
        self.directory = directory
        self.where = where
        self.clock = clock
        self.every_events = every_events
        self.interval_s = interval_s
        self.monotonic = monotonic
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        self.last = cp.newest(directory, where, cp.public_hex(key))
        self.last_at = monotonic()
        self.refused_at: int | None = None  # the head a broken chain stopped us at

    def head_position(self) -> int:
        """The position of the newest link of the chain (0: empty)."""
        recorder = self.store.recorder
        with read_transaction(recorder) as cursor:
            head = chain_of(recorder).head(cursor)
        return head[0] if head else 0

    def catch_up(self) -> int:
        """After a stored batch: a checkpoint when enough rows were stored since the last
        one (1), else 0. Never raises and never waits: storing events must not wait on
        a checkpoint (the first one, which walks the whole chain, is the timer's; one
        being written meanwhile is left to finish)."""
        if not self.every_events or self.last is None:
            return 0
        try:
            if self.head_position() - self._signed_up_to() >= self.every_events:
                return 1 if self.write(wait=False) else 0
        except Exception:
            log.exception("could not write a checkpoint; will try again")
        return 0

    def on_timer(self) -> bool:
        """A checkpoint when ``interval_s`` passed since the last and the head moved."""
        if not self.interval_s or self.monotonic() - self.last_at < self.interval_s:
            return False
        try:
            if self.last is None:
                return self.first()
            if self.head_position() > self._signed_up_to():
                return self.write() is not None
        except Exception:
            log.exception("could not write a checkpoint; will try again")
        return False

    def first(self) -> bool:
        """The first checkpoint (none in the directory yet), whatever the triggers."""
        try:
            return self.last is None and self.head_position() > 0 and \
                self.write() is not None
        except Exception:
            log.exception("could not write a checkpoint; will try again")
            return False

    async def run(self, stop: asyncio.Event) -> None:
        """The first checkpoint, then the timer: a look every few seconds (a tenth of
        the interval at most)."""
        await asyncio.to_thread(self.first)
        if not self.interval_s:
            return
        period = max(0.05, min(self.interval_s / 10, 5.0))
        await run_every(stop, period, lambda: asyncio.to_thread(self.on_timer),
                        "checkpoint timer", wait_first=True)

    def _signed_up_to(self) -> int:
        return self.last.position if self.last else 0

    def write(self, wait: bool = True) -> cp.Checkpoint | None:
        """Verify the rows since the last checkpoint, sign the head, write its file;
        None when there is nothing new, the chain is broken (logged), or another
        checkpoint is being written and ``wait`` is False."""
        if not self._lock.acquire(blocking=wait):
            return None
        try:
            return self._write()
        finally:
            self._lock.release()

    def _write(self) -> cp.Checkpoint | None:
        start = Expected(self.last.position, bytes.fromhex(self.last.hash)) \
            if self.last else None
        report = verify_chain(self.store.recorder, start=start)
        if report.first_break is not None:
            if self.refused_at != report.first_break.position:
                self.refused_at = report.first_break.position
                log.error("not signing a checkpoint: the chain is broken at position %d "
                          "(%s): %s", report.first_break.position,
                          report.first_break.kind, report.first_break.detail)
            return None
        if report.head_position <= self._signed_up_to():
            return None
        events = (self.last.events if self.last else 0) + report.events
        signed = cp.sign(self.key, store=self.where, position=report.head_position,
                         head_hash=report.head_hash, events=events, now=self.clock.now())
        path = cp.checkpoint_path(self.directory, signed.position)
        partial = path.with_suffix(".part")
        partial.write_bytes(cp.encode(signed))
        os.replace(partial, path)  # whole or not at all
        self.last, self.last_at = signed, self.monotonic()
        log.info("checkpoint of chain position %d (%d rows) written to %s",
                 signed.position, signed.events, path)
        return signed
