"""Listing KV keys by pattern."""

from __future__ import annotations

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue


async def matching_keys(kv: KeyValue, pattern: str) -> list[str]:
    """Live keys matching a NATS wildcard ``pattern``, filtered by the server.

    (nats-py's ``kv.keys(filters=...)`` matches substrings on the client, so a
    wildcard there matches nothing.)
    """
    keys = await watched_keys(kv, pattern)
    if keys:
        return keys
    # nats-py's watcher says "no initial values" when the consumer's info answers
    # before the values it already sent were read (0 pending, 0 received yet): under
    # load a listing came back empty. An empty answer is checked against the stream.
    return await _stream_keys(kv, pattern)


async def watched_keys(kv: KeyValue, pattern: str) -> list[str]:
    """The keys a KV watch delivers before it signals the end of the initial values."""
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


async def _stream_keys(kv: KeyValue, pattern: str) -> list[str]:
    """The live keys of the subjects the bucket's stream holds for ``pattern``."""
    prefix = kv._pre  # "$KV.<bucket>."
    info = await kv._js.stream_info(kv._stream, subjects_filter=prefix + pattern)
    keys = []
    for subject in sorted(info.state.subjects or {}):
        key = subject.removeprefix(prefix)
        try:
            await kv.get(key)  # a deleted or purged key raises (its marker is last)
        except KeyNotFoundError:
            continue
        keys.append(key)
    return keys
