"""Which partition an account is in, and which instance should own each partition.

Partitions come from the NATS server's ``partition(N, tenant, account)`` subject
transform: FNV-1a (32 bit) of the tenant and account tokens, concatenated, modulo N.
:func:`partition_of` computes the same number here (a test checks it against the
server), so loops that are not fed by a partitioned consumer (the breaker, cleanup)
can tell whether an account is theirs.

Owners come from rendezvous hashing: every instance computes the same answer from
the same member list, and a partition moves only when its owner leaves or a joining
instance outranks it (about 1/members of the partitions move).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv1a_32(data: bytes) -> int:
    """The 32-bit FNV-1a hash of ``data``."""
    value = _FNV_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return value


def partition_of(tenant_token: str, account_token: str, partitions: int) -> int:
    """The partition the server puts an account's subjects in (tokens as in the
    subject, i.e. after ``contracts.subjects.token``)."""
    if partitions <= 1:
        return 0
    return fnv1a_32((tenant_token + account_token).encode()) % partitions


def stored_subject(subject: str, partitions: int) -> str:
    """The subject an event published on ``subject`` is stored under in the stream:
    with partitions, one with tenant, account and strategy tokens gets its
    partition appended (see ``contracts/streams.py``)."""
    tokens = subject.split(".")
    if not partitions or len(tokens) != 5:
        return subject
    return f"{subject}.{partition_of(tokens[2], tokens[3], partitions)}"


def _score(service: str, partition: int, member: str) -> int:
    digest = hashlib.blake2b(f"{service}/{partition}/{member}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def owner_of(service: str, partition: int, members: Iterable[str]) -> str | None:
    """The member that should own ``partition`` of ``service`` (None: no members)."""
    best: tuple[int, str] | None = None
    for member in members:
        candidate = (_score(service, partition, member), member)
        if best is None or candidate > best:
            best = candidate
    return None if best is None else best[1]


def assignment(service: str, partitions: int, members: Iterable[str]) -> dict[int, str]:
    """Every partition's intended owner (empty when there are no members)."""
    live = sorted(set(members))
    if not live:
        return {}
    return {p: owner for p in range(partitions)
            if (owner := owner_of(service, p, live)) is not None}
