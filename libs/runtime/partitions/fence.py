"""The fence that account-state writes pass: which partition tenure a write is made
under, and the check that refuses it when the tenure is over or a newer one wrote.

A partition's consumers run in a context whose :data:`CURRENT_TENURE` is their
tenure (partition and epoch). Stores of account state (risk ledgers, paper accounts)
call :func:`check_write` with the epoch the stored value was written under, then
compare-and-set the value with the tenure's epoch in it: a write under a lower epoch
than the stored one is refused, and so is any write once the lease may have lapsed.
Outside partitions (``TRADEHOOKS_PARTITIONS=0``, timer loops) there is no tenure:
the compare-and-set alone guards the write, as before.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from libs.runtime.partitions.leases import accepts


class NotOwner(Exception):
    """This instance no longer owns the account's partition (or a newer owner wrote)."""


class _Holder(Protocol):
    def can_write(self, partition: int, epoch: int) -> bool: ...


@dataclass(frozen=True)
class Tenure:
    """One hold of one partition by this instance."""

    partition: int
    epoch: int
    holder: _Holder


CURRENT_TENURE: ContextVar[Tenure | None] = ContextVar("partition_tenure", default=None)


def check_tenure() -> None:
    """Raise :class:`NotOwner` when the partition tenure this code runs under lapsed
    (a consumer stops handling the moment its lease may have gone)."""
    tenure = CURRENT_TENURE.get()
    if tenure is not None and not tenure.holder.can_write(tenure.partition, tenure.epoch):
        raise NotOwner(f"partition {tenure.partition}: lease (epoch {tenure.epoch}) lapsed")


def write_epoch(stored_epoch: int) -> int:
    """The epoch to store with a write over a value written under ``stored_epoch``
    (raises :class:`NotOwner` when the write must not happen)."""
    tenure = CURRENT_TENURE.get()
    if tenure is None:
        return stored_epoch
    if not tenure.holder.can_write(tenure.partition, tenure.epoch):
        raise NotOwner(f"partition {tenure.partition}: lease (epoch {tenure.epoch}) lapsed")
    if not accepts(stored_epoch, tenure.epoch):
        raise NotOwner(f"partition {tenure.partition}: written under epoch {stored_epoch} "
                       f"after ours ({tenure.epoch})")
    return tenure.epoch
