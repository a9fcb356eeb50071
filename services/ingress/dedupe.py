"""Recognising the same alert delivered twice.

The key is the strategy plus the sender's id for the alert (``webhook-id``, the
dialect's alert/signal id) or, failing that, a hash of the exact body. The first
request claims the key in a KV bucket (atomic create, TTL = dedupe window) with a
new signal id; a repeat finds the key and reuses that signal id, so its publish
carries the same Nats-Msg-Id and JetStream reports it as a duplicate.
"""

from __future__ import annotations

import hashlib

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue


def dedupe_key(strategy_id: str, sender_id: str, raw_body: bytes) -> str:
    """KV key for an alert of one strategy."""
    basis = f"id:{sender_id}".encode() if sender_id else b"body:" + raw_body
    digest = hashlib.sha256(strategy_id.encode() + b"|" + basis).hexdigest()
    return f"a.{digest}"


async def claim_signal_id(kv: KeyValue, key: str, fresh_id: str) -> str:
    """The signal id for ``key``: ``fresh_id`` on first sight, else the first one."""
    for _ in range(3):
        try:
            await kv.create(key, fresh_id.encode())
            return fresh_id
        except KeyWrongLastSequenceError:
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:
                continue  # expired between the two calls: claim again
            if entry.value:
                return entry.value.decode()
    return fresh_id
