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
from harness import System, Tenancy, wait_until
from nats.js.errors import NotFoundError

from contracts import streams
from contracts.events import TradeExecuted, decode_event
from contracts.subjects import token
from services.brokers.paper import PaperAccount
from services.runtime.bus import Bus

_paper_state = msgspec.json.Decoder(PaperAccount)


def log_size(system: System, service: str) -> int:
    """Bytes in the service's log so far (a restart appends to the same file)."""
    path = system.data_dir / f"{service}.log"
    return path.stat().st_size if path.exists() else 0


async def wait_restarted(system: System, service: str, offset: int,
                         timeout: float = 30.0) -> None:
    """Until the service logs, after ``offset``, that it is running again."""
    marker = b"listening on" if service == "ingress" else f"{service} running".encode()
    path = system.data_dir / f"{service}.log"

    def running() -> bool:
        with path.open("rb") as log:
            log.seek(offset)
            return marker in log.read()

    await wait_until(running, timeout, interval=0.05, message=f"{service} to restart")


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


async def kill_executor_between_submit_and_ack(system: System, bus: Bus,
                                               tenancies: list[Tenancy],
                                               tries: int = 60,
                                               timeout: float = 30.0) -> str:
    """SIGKILL the executor after the paper broker recorded a fill and before the
    executor acknowledged its ``order.requested``; returns that client order id.

    The paper broker has no fault hook, so the moment is caught from outside: each
    change of a paper account in KV (a submit just saved) freezes the executor
    (SIGSTOP) and the stream is asked whether the fill's ``webhook.trade_executed``
    exists. While it does not, the executor cannot have acked (it acks after its
    publish is acknowledged), so it is killed there; otherwise it is resumed and
    the next change is tried. The executor is started again afterwards.
    """
    subjects = {t.account.id: f"webhook.trade_executed.{token(t.tenant.id)}."
                f"{token(t.account.id)}.{token(t.strategy.id)}" for t in tenancies}
    kv = await bus.kv(streams.BUCKET_PAPER)
    watcher = await kv.watchall()
    seen: dict[str, set[str]] = {}
    process = system.processes["executor"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        for _ in range(tries):
            try:
                entry = await watcher.updates(timeout=max(deadline - loop.time(), 0.1))
            except TimeoutError:
                break  # the load is over: no more submits to catch
            if entry is None or entry.key not in subjects or not entry.value:
                continue  # the end of the initial values, or another account
            filled = {c for c, o in _paper_state.decode(entry.value).orders.items()
                      if o.status == "filled" and not o.leg}
            new = filled - seen.get(entry.key, set())
            seen[entry.key] = filled
            if len(new) != 1:
                continue
            client_order_id = new.pop()
            os.kill(process.pid, signal.SIGSTOP)
            if await _executed_on_stream(bus, subjects[entry.key], client_order_id):
                os.kill(process.pid, signal.SIGCONT)
                continue
            offset = log_size(system, "executor")
            system.kill("executor")  # SIGKILL works on a stopped process
            system.start("executor")
            await wait_restarted(system, "executor", offset)
            return client_order_id
    finally:
        await watcher.stop()
    raise AssertionError(f"never caught the executor between submit and ack in {tries} tries")


async def _executed_on_stream(bus: Bus, subject: str, client_order_id: str) -> bool:
    """Is the newest fill event of the account the one of ``client_order_id``?

    One account's orders are executed in order, so its fill would be the newest.
    """
    try:
        raw = await bus.js.get_last_msg(streams.STREAM, subject)
    except NotFoundError:
        return False
    event = decode_event(raw.data or b"")
    return isinstance(event, TradeExecuted) and event.fill.client_order_id == client_order_id
