"""NATS JetStream access: connection, stream/KV set-up and de-duplicated publishing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamConfig, SubjectTransform
from nats.js.errors import BadRequestError, BucketNotFoundError
from nats.js.kv import KeyValue

from contracts import streams
from contracts.events import Event, encode_event
from contracts.subjects import subject_for

log = logging.getLogger(__name__)
# How long pipelined publishes wait for JetStream's acknowledgements (the
# JetStream context's own request timeout, for single publishes, is the same).
PUBLISH_TIMEOUT_S = 5.0


def is_bus_error(exc: BaseException) -> bool:
    """A failure of NATS itself (unreachable, timed out, refused) — not of our code."""
    return isinstance(exc, TimeoutError | ConnectionError) or \
        type(exc).__module__.split(".")[0] == "nats"


@dataclass
class Bus:
    """A connected NATS client with its JetStream context.

    nats-py reconnects by itself after a dropped connection, but closes for good on
    most ``-ERR`` answers of the server (a subject over its line limit, say): every
    later call then raises. :attr:`lost` is set when that happens to a connection we
    did not close ourselves; the service then replaces it with a fresh one (see
    ``libs/runtime/service.py`` and the ingress bootstrap) or exits non-zero.
    """

    nc: Client
    js: JetStreamContext
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False
    # Called after nats-py reconnected by itself (pull subscriptions and watches may
    # have gone deaf across it: their owners rebuild them).
    on_reconnected: list[Callable[[], None]] = field(default_factory=list)

    @property
    def closed_for_good(self) -> bool:
        """The connection is closed and we did not close it: it will never come back."""
        return not self.closing and (self.lost.is_set() or self.nc.is_closed)

    async def wait_lost(self, poll_s: float = 0.5) -> None:
        """Return once the connection is closed for good. The closed callback sets
        :attr:`lost`; nats-py skips it when the close comes while connecting, so the
        client's state is looked at too."""
        while not self.closed_for_good:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.lost.wait(), poll_s)

    async def publish_event(self, event: Event, msg_id: str) -> bool:
        """Publish durably with a Nats-Msg-Id; True when JetStream had it already."""
        ack = await self.js.publish(
            subject_for(event),
            encode_event(event),
            stream=streams.STREAM,
            headers={"Nats-Msg-Id": msg_id},
        )
        return bool(ack.duplicate)

    async def publish_all(self, items: Sequence[tuple[Event, str]],
                          timeout: float = PUBLISH_TIMEOUT_S) -> list[BaseException | None]:
        """Publish events durably, each with its Nats-Msg-Id, pipelined: every one is
        sent before any acknowledgement is awaited, so they leave in one socket write
        and their acks come back together. Per item: None once JetStream stored it
        (or had it already), else why not (not acked within ``timeout`` included).

        Sent in one go on one connection, they reach the server in order; a cut
        connection loses a suffix of them, never one in the middle.
        """
        futures: list[asyncio.Future[Any]] = []
        errors: list[BaseException | None] = []
        try:
            for event, msg_id in items:
                futures.append(await self.js.publish_async(
                    subject_for(event), encode_event(event), stream=streams.STREAM,
                    headers={"Nats-Msg-Id": msg_id}))
        except Exception as exc:  # the connection went away while sending
            errors = [exc] * (len(items) - len(futures))
        if futures:
            _, late = await asyncio.wait(futures, timeout=timeout)
            for future in late:
                future.cancel()  # frees its slot among nats-py's pending publishes
        settled = [TimeoutError("no acknowledgement from JetStream") if f.cancelled()
                   else f.exception() for f in futures]
        return settled + errors

    async def publish_first(self, event: Event, msg_id: str) -> tuple[bool, int]:
        """Publish durably with a Nats-Msg-Id: whether JetStream had that id already,
        and the stream sequence of the message it keeps (the first one)."""
        ack = await self.js.publish(
            subject_for(event),
            encode_event(event),
            stream=streams.STREAM,
            headers={"Nats-Msg-Id": msg_id},
        )
        return bool(ack.duplicate), int(ack.seq)

    async def kv(self, bucket: str) -> KeyValue:
        """An existing KV bucket."""
        return await self.js.key_value(bucket)

    async def close(self) -> None:
        """Flush pending acks and publishes, then close.

        Not ``drain()``: with pull subscriptions it waits out its whole 30 s
        timeout, and our handlers have already finished their work by now.
        """
        self.closing = True
        if self.nc.is_closed:
            return
        try:
            await self.nc.flush(timeout=2)
        except Exception as exc:
            log.warning("flush before close failed: %r", exc)
        # While NATS is unreachable close() can wait on the reconnect loop: bound it,
        # so SIGTERM always ends the process.
        try:
            await asyncio.wait_for(self.nc.close(), timeout=5)
        except Exception as exc:
            log.warning("closing the NATS connection did not finish: %r", exc)


async def connect(url: str | list[str], name: str, **callbacks: Any) -> Bus:
    """Connect with endless reconnects (a trading system must outlive a NATS restart).

    ``url`` may be a list, or a comma-separated string, of a cluster's servers. The
    returned bus's :attr:`Bus.lost` is set if the server closes it for good.
    """
    servers = [u.strip() for u in url.split(",")] if isinstance(url, str) else url
    lost = asyncio.Event()
    bus_ref: list[Bus] = []  # the bus is made once connected; the callback needs it

    async def _error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    user_closed = callbacks.pop("closed_cb", None)
    user_reconnected = callbacks.pop("reconnected_cb", None)

    async def _reconnected() -> None:
        log.info("%s: NATS connection re-established", name)
        for hook in bus_ref[0].on_reconnected if bus_ref else ():
            hook()
        if user_reconnected is not None:
            await user_reconnected()

    async def _closed() -> None:
        if not (bus_ref and bus_ref[0].closing):
            log.error("%s: the NATS connection was closed by the server for good", name)
            lost.set()
        if user_closed is not None:
            await user_closed()

    callbacks.setdefault("error_cb", _error)
    nc = await nats.connect(
        servers=servers,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        closed_cb=_closed,
        reconnected_cb=_reconnected,
        **callbacks,
    )
    bus = Bus(nc=nc, js=nc.jetstream(timeout=PUBLISH_TIMEOUT_S), lost=lost)
    bus_ref.append(bus)
    return bus


def stream_config(replicas: int = 1,
                  duplicate_window_s: float = streams.DUPLICATE_WINDOW_S,
                  partitions: int = 0) -> StreamConfig:
    """The one stream that holds every event (R3 on a cluster: ``replicas=3``). Its
    duplicate window is the alerts' de-duplication window. With ``partitions`` the
    stream appends each account's partition to its subjects (see contracts/streams)."""
    transform = SubjectTransform(src=streams.PARTITIONED_SOURCE,
                                 dest=streams.partition_destination(partitions)) \
        if partitions else None
    return StreamConfig(
        name=streams.STREAM,
        subjects=list(streams.STREAM_SUBJECTS),
        storage=StorageType.FILE,
        duplicate_window=duplicate_window_s,
        num_replicas=replicas,
        subject_transform=transform,
    )


async def ensure_topology(
    bus: Bus, dedupe_window_s: float = streams.DUPLICATE_WINDOW_S, replicas: int = 1,
    partitions: int = 0,
) -> None:
    """Create or update the stream and KV buckets (idempotent, safe on every start)."""
    config = stream_config(replicas, dedupe_window_s, partitions)
    try:
        await bus.js.add_stream(config)
    except BadRequestError:
        await bus.js.update_stream(config)
    market = StreamConfig(
        name=streams.MARKET_STREAM, subjects=list(streams.MARKET_SUBJECTS),
        storage=StorageType.FILE, max_age=streams.MARKET_MAX_AGE_S, num_replicas=replicas,
    )
    try:
        await bus.js.add_stream(market)
    except BadRequestError:
        await bus.js.update_stream(market)
    await _ensure_bucket(bus, streams.BUCKET_REGISTRY, 5, None, replicas)
    await _ensure_bucket(bus, streams.BUCKET_OPEN_ORDERS, 1, None, replicas)
    await _ensure_bucket(bus, streams.BUCKET_PRICES, 1, None, replicas)
    await _ensure_bucket(bus, streams.BUCKET_RISK, 1, None, replicas)
    await _ensure_bucket(bus, streams.BUCKET_RISK_DECISIONS, 1,
                         streams.RISK_DECISIONS_KEEP_S, replicas)
    await _ensure_bucket(bus, streams.BUCKET_BREAKERS, 1, None, replicas)
    await _ensure_bucket(bus, streams.BUCKET_RATE, 1, streams.RATE_WINDOW_KEEP_S, replicas)
    await _ensure_bucket(bus, streams.BUCKET_PAPER, 1, None, replicas)
    await _ensure_bucket(bus, streams.BUCKET_ACCEPTED, 1, dedupe_window_s, replicas)
    await _ensure_bucket(bus, streams.BUCKET_CALLBACK_DELIVERIES, 1,
                         streams.CALLBACK_DELIVERIES_KEEP_S, replicas)
    await _ensure_bucket(bus, streams.BUCKET_CALLBACK_HEALTH, 1, None, replicas)
    await _ensure_bucket(bus, streams.BUCKET_NOTIFY_PENDING, 1, None, replicas)
    await _ensure_bucket(bus, streams.BUCKET_NOTIFY_SUMMARIES, 1,
                         streams.NOTIFY_SUMMARIES_KEEP_S, replicas)
    await _ensure_bucket(bus, streams.BUCKET_PARTITIONS, 1, None, replicas)
    await _ensure_bucket(bus, streams.BUCKET_MEMBERS, 1, streams.MEMBERS_KEEP_S, replicas)


async def _ensure_bucket(bus: Bus, name: str, history: int, ttl: float | None,
                         replicas: int) -> None:
    """Create the bucket, or turn on direct gets on one made before they were used.

    Direct gets answer a key with the raw message; without them every KV read is a
    JSON API call whose value and headers come base64-encoded (a third of the risk
    service's CPU went there).
    """
    try:
        kv = await bus.js.key_value(name)
    except BucketNotFoundError:
        await bus.js.create_key_value(KeyValueConfig(
            bucket=name, history=history, ttl=ttl, storage=StorageType.FILE,
            replicas=replicas, direct=True,
        ))
        return
    if not kv._direct:
        info = await bus.js.stream_info(f"KV_{name}")
        info.config.allow_direct = True
        await bus.js.update_stream(info.config)
