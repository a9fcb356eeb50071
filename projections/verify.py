"""Walk the tamper-evidence chain and report its first break (``tradehooks verify``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from projections.chain import GENESIS, Link, Row, chain_of, link_hash, read_transaction


@dataclass(frozen=True)
class ChainBreak:
    """Where the chain stops holding, and what the store looks like there."""

    position: int
    kind: str  # altered | deleted | inserted | truncated | checkpoint
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    """What a walk of the chain found."""

    events: int  # rows whose link checked out before the first break (or all)
    head_position: int  # of the last row that checked out
    head_hash: bytes
    first_break: ChainBreak | None
    checkpoint_position: int | None = None  # when a checkpoint was checked

    @property
    def ok(self) -> bool:
        """True when every row and the checkpoint (if any) check out."""
        return self.first_break is None


@dataclass(frozen=True)
class Expected:
    """A chain head someone vouched for (a signed checkpoint's position and hash)."""

    position: int
    hash: bytes


def _paged(fetch: Callable[[int, int], list[Any]], batch: int,
           position: int = 0) -> Iterator[Any]:
    while True:
        page = fetch(position, batch)
        yield from page
        if len(page) < batch:
            return
        position = page[-1][0]


def verify_chain(recorder: Any, expected: Expected | None = None, batch: int = 5000,
                 on_progress: Callable[[int], None] | None = None,
                 start: Expected | None = None) -> VerifyReport:
    """Recompute every link from the stored rows, in one read snapshot.

    ``start``: a head already vouched for (the auditor's previous checkpoint): only the
    rows after it are walked, chained from its hash; ``events`` then counts those.

    Reports the first row (by position) where the store and the chain disagree: a
    row whose bytes or place changed (altered), a link without its row (deleted), a
    row without a link (inserted), a link naming another predecessor than the row
    before it (deleted or reordered rows), and, with ``expected``, a chain that does
    not reach or does not match a signed head (truncated / rewritten).
    """
    sql = chain_of(recorder)
    first = start.position if start else 0
    with read_transaction(recorder) as cursor:
        rows: Iterator[Row] = _paged(lambda p, n: sql.rows_after(cursor, p, n), batch, first)
        links: Iterator[Link] = _paged(lambda p, n: sql.links_after(cursor, p, n), batch,
                                       first)
        return _walk(rows, links, expected, on_progress, start)


def _walk(rows: Iterator[Row], links: Iterator[Link], expected: Expected | None,
          on_progress: Callable[[int], None] | None,
          start: Expected | None = None) -> VerifyReport:
    row, link = next(rows, None), next(links, None)
    prev_position, prev_hash, checked = (start.position, start.hash, 0) if start else \
        (0, GENESIS, 0)

    def report(broken: ChainBreak | None) -> VerifyReport:
        return VerifyReport(checked, prev_position, prev_hash, broken,
                            expected.position if expected else None)

    while row is not None or link is not None:
        if link is None or (row is not None and row[0] < link[0]):
            assert row is not None
            return report(ChainBreak(row[0], "inserted",
                                     f"the event at position {row[0]} has no link in the "
                                     "chain: it was added outside the store"))
        if row is None or link[0] < row[0]:
            return report(ChainBreak(link[0], "deleted",
                                     f"the event at position {link[0]} is missing: its "
                                     "row was deleted"))
        position, oid, version, topic, state = row
        if link[1] != prev_position:
            return report(ChainBreak(position, "deleted",
                                     f"the event at position {position} was chained after "
                                     f"position {link[1]}, but the store has {prev_position} "
                                     "before it: rows between were deleted or moved"))
        computed = link_hash(prev_hash, position, oid, version, topic, state)
        if computed != link[2]:
            return report(ChainBreak(position, "altered",
                                     f"the event at position {position} does not match its "
                                     "hash: its content was edited, rows were reordered, or "
                                     "its link was rewritten"))
        if expected and position == expected.position and computed != expected.hash:
            return report(ChainBreak(position, "checkpoint",
                                     f"the chain at position {position} differs from the "
                                     "signed checkpoint: the history before it was rewritten"))
        if expected and prev_position < expected.position < position:
            return report(ChainBreak(expected.position, "checkpoint",
                                     f"the checkpoint's position {expected.position} is no "
                                     "longer in the chain: the history before it was "
                                     "rewritten"))
        prev_position, prev_hash = position, computed
        checked += 1
        if on_progress and checked % 100_000 == 0:
            on_progress(position)
        row, link = next(rows, None), next(links, None)
    if expected and prev_position < expected.position:
        return report(ChainBreak(expected.position, "truncated",
                                 f"the store ends at position {prev_position}, before the "
                                 f"checkpoint's position {expected.position}: events were "
                                 "removed from its end"))
    return report(None)
