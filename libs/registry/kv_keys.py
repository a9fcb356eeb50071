"""Listing KV keys by pattern."""

from __future__ import annotations

from nats.js.kv import KeyValue


async def matching_keys(kv: KeyValue, pattern: str) -> list[str]:
    """Live keys matching a NATS wildcard ``pattern``, filtered by the server.

    (nats-py's ``kv.keys(filters=...)`` matches substrings on the client, so a
    wildcard there matches nothing.)
    """
    watcher = await kv.watch(pattern, ignore_deletes=True, meta_only=True)
    keys: list[str] = []
    try:
        async for entry in watcher:
            if entry is None:  # the initial values are all delivered
                break
            keys.append(entry.key)
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]
    return keys
