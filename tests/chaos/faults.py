"""Faults to inject into a running :class:`harness.System`, at seeded moments.

The delays here are the fault *schedule* (when to strike, how long to stay down),
drawn from a seeded ``random.Random``; waiting for a restarted process polls its
log for the line that says it is running.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from dataclasses import dataclass

import msgspec
from harness import System, Tenancy, log_size, wait_restarted
from nats.js.errors import NotFoundError

from contracts import streams
from contracts.events import TradeExecuted, decode_event
from contracts.subjects import token
from libs.brokers.paper import PaperAccount
from libs.runtime.bus import Bus
from libs.runtime.config import load_settings
from libs.runtime.partitions.assignment import stored_subject

_paper_state = msgspec.json.Decoder(PaperAccount)


@dataclass
class Crash:
    """One kill -9 and restart that happened."""

    service: str
    at_s: float
    down_s: float
    log_offset: int


async def crash_each(system: System, services: tuple[str, ...], rng: random.Random,
                     gap_s: tuple[float, float], down_s: tuple[float, float]) -> list[Crash]:
    """SIGKILL each service in turn and start it again.

    Before each kill wait a seeded ``gap_s`` range, keep it down a seeded
    ``down_s`` range. Does not wait for the restart to finish, so the next crash
    can overlap it (a restart is slow; the load keeps flowing meanwhile).
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    crashes: list[Crash] = []
    for service in services:
        await asyncio.sleep(rng.uniform(*gap_s))
        offset = log_size(system, service)
        at = loop.time() - began
        system.kill(service)
        down = rng.uniform(*down_s)
        await asyncio.sleep(down)
        system.start(service)
        crashes.append(Crash(service, at, down, offset))
    return crashes


async def nats_outage(system: System, rng: random.Random, after_s: tuple[float, float],
                      down_s: tuple[float, float]) -> float:
    """SIGKILL the nats-server at a seeded moment and start it again on the same store.

    SIGKILL, not a clean stop: publishes in flight may be stored without their
    acknowledgement reaching ingress, the case where a retry must be a duplicate.
    Returns how long the server was down.
    """
    await asyncio.sleep(rng.uniform(*after_s))
    loop = asyncio.get_running_loop()
    stopped = loop.time()
    system.nats.stop(kill=True)
    await asyncio.sleep(rng.uniform(*down_s))
    await system.nats.start()
    return loop.time() - stopped


def fill_subject(tenancy: Tenancy) -> str:
    """The subject the account's ``webhook.trade_executed`` events are stored under
    (with its partition when the services run partitioned)."""
    return stored_subject(f"webhook.trade_executed.{token(tenancy.tenant.id)}."
                          f"{token(tenancy.account.id)}.{token(tenancy.strategy.id)}",
                          load_settings().partitions)


async def freeze_executor_after_submit(system: System, bus: Bus, tenancies: list[Tenancy],
                                       tries: int = 60, timeout: float = 30.0
                                       ) -> tuple[str, Tenancy]:
    """SIGSTOP the executor after the paper broker recorded a fill and before the
    executor acknowledged its ``order.requested``; returns that client order id and
    the tenancy it belongs to. The executor stays frozen.

    The paper broker has no fault hook, so the moment is caught from outside: each
    change of a paper account in KV (a submit just saved) freezes the executor and
    the stream is asked whether the fill's ``webhook.trade_executed`` exists. While
    it does not, the executor cannot have acked (it acks after its publish is
    acknowledged); otherwise it is resumed and the next change is tried.
    """
    by_account = {t.account.id: t for t in tenancies}
    kv = await bus.kv(streams.BUCKET_PAPER)
    watcher = await kv.watchall()
    seen: dict[str, set[str]] = {}
    pid = system.processes["executor"].pid
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        for _ in range(tries):
            try:
                entry = await watcher.updates(timeout=max(deadline - loop.time(), 0.1))
            except TimeoutError:
                break  # the load is over: no more submits to catch
            if entry is None or entry.key not in by_account or not entry.value:
                continue  # the end of the initial values, or another account
            filled = {c for c, o in _paper_state.decode(entry.value).orders.items()
                      if o.status == "filled" and not o.leg}
            new = filled - seen.get(entry.key, set())
            seen[entry.key] = filled
            if len(new) != 1:
                continue
            client_order_id = new.pop()
            tenancy = by_account[entry.key]
            os.kill(pid, signal.SIGSTOP)
            if await last_fill_id(bus, tenancy) != client_order_id:
                return client_order_id, tenancy
            os.kill(pid, signal.SIGCONT)
    finally:
        await watcher.stop()
    raise AssertionError(f"never caught the executor between submit and ack in {tries} tries")


async def kill_executor_between_submit_and_ack(system: System, bus: Bus,
                                               tenancies: list[Tenancy]) -> str:
    """:func:`freeze_executor_after_submit`, then SIGKILL it there and start it again;
    returns the client order id it died holding."""
    client_order_id, _ = await freeze_executor_after_submit(system, bus, tenancies)
    offset = log_size(system, "executor")
    system.kill("executor")  # SIGKILL works on a stopped process
    system.start("executor")
    await wait_restarted(system, "executor", offset)
    return client_order_id


async def last_fill_id(bus: Bus, tenancy: Tenancy) -> str | None:
    """Client order id of the account's newest fill event on the stream, if any.

    One account's orders are executed in order, so a new fill would be the newest.
    """
    try:
        raw = await bus.js.get_last_msg(streams.STREAM, fill_subject(tenancy))
    except NotFoundError:
        return None
    event = decode_event(raw.data or b"")
    return event.fill.client_order_id if isinstance(event, TradeExecuted) else None
