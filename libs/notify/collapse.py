"""Collapsing and rate limiting: a burst of events is one message.

Notices are gathered per key (tenant, channel, topic). A key's gathered notices go
out together, as one message, once both hold:

* the first of them has waited ``collapse_s`` (so a burst arriving within that
  window is one message), and
* ``min_interval_s`` has passed since the key's previous message (so a channel never
  gets more than one message per topic per interval, whatever the event rate).

Nothing is dropped: every notice is in exactly one batch (only the first
``keep`` lines of a batch are kept for its text; ``total`` counts them all).
Times are plain seconds (monotonic), so the rule is testable without a clock.
Each window (the notices between two sends of a key) has an id, ``slot``, chosen by
the caller: the notifier records notices durably under it (:mod:`libs.notify.pending`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from libs.notify.messages import Notice

Key = tuple[str, str, str]  # tenant, channel, topic


@dataclass
class _Slot:
    lines: list[str] = field(default_factory=list)
    total: int = 0
    first_at: float = 0.0
    last_sent_at: float | None = None
    collapse_s: float = 0.0
    min_interval_s: float = 0.0
    slot: str = ""
    event_ids: list[str] = field(default_factory=list)

    def due_at(self) -> float:
        if self.last_sent_at is None:
            return self.first_at + self.collapse_s
        return max(self.first_at + self.collapse_s, self.last_sent_at + self.min_interval_s)


@dataclass(frozen=True)
class Batch:
    """Notices of one key that go out as one message."""

    key: Key
    lines: tuple[str, ...]
    total: int
    slot: str = ""
    event_ids: tuple[str, ...] = ()


class Collapser:
    """Gathers notices per key and says which batches are due."""

    def __init__(self, keep: int = 50) -> None:
        self.keep = keep
        self._slots: dict[Key, _Slot] = {}

    def add(self, key: Key, notice: Notice, now: float, collapse_s: float,
            min_interval_s: float, slot_id: str = "") -> None:
        """Gather ``notice`` under ``key`` (the channel's current windows apply); a
        notice opening a window names it ``slot_id``."""
        slot = self._slots.setdefault(key, _Slot())
        if slot.total == 0:
            slot.first_at = now
            slot.slot = slot_id
            slot.event_ids = []
        slot.total += 1
        slot.event_ids.append(notice.event_id)
        if len(slot.lines) < self.keep:
            slot.lines.append(notice.line)
        slot.collapse_s, slot.min_interval_s = collapse_s, min_interval_s

    def due(self, now: float) -> list[Batch]:
        """The batches to send now; their keys count as sent at ``now``."""
        out = []
        for key, slot in list(self._slots.items()):
            if slot.total and now >= slot.due_at():
                out.append(Batch(key, tuple(slot.lines), slot.total, slot.slot,
                                 tuple(slot.event_ids)))
                slot.lines, slot.total, slot.last_sent_at = [], 0, now
                slot.event_ids = []
            elif not slot.total and slot.last_sent_at is not None and \
                    now - slot.last_sent_at >= slot.min_interval_s:
                del self._slots[key]  # quiet again: forget the key
        return out

    def sent_before(self, key: Key, at: float, min_interval_s: float) -> None:
        """``key``'s previous message was cut at ``at`` (by an earlier process): its
        next message waits ``min_interval_s`` from then, as if this process sent it."""
        slot = self._slots.setdefault(key, _Slot())
        if slot.last_sent_at is None or at > slot.last_sent_at:
            slot.last_sent_at = at
        slot.min_interval_s = min_interval_s

    def open_slot(self, key: Key) -> str | None:
        """The id of ``key``'s open window (holding notices), or None."""
        slot = self._slots.get(key)
        return slot.slot if slot is not None and slot.total else None

    def pending(self) -> int:
        """Notices gathered and not yet in a batch."""
        return sum(slot.total for slot in self._slots.values())
