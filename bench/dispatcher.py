"""What the dispatcher (signed callbacks to tenants' URLs) costs per signal, without
and with a registered endpoint.

The pipeline and the dispatcher run as processes. First ``--signals`` alerts over
``--accounts`` tenants that registered no callback endpoint (the dispatcher still
reads every lifecycle event to find out); then every tenant registers an endpoint at a
local HTTPS receiver (in this process, trusted through the test CA) for
``--event-types``, and the same number of alerts again. Each phase is waited for until
every signal ended, the dispatcher's consumers have nothing pending and (with
endpoints) the receiver has taken every delivery; CPU per signal of every process is
read from ``/proc`` around it (the receiver's CPU is this process's, apart).

    make bench-dispatcher
    .venv/bin/python -m bench.dispatcher --signals 1000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from typing import Any

from callback_receiver import Receiver
from harness import master_box

from bench.alerts import Target, round_robin
from bench.phases import main, print_phase, send_phase
from bench.rig import PIPELINE, Rig, cpu_per_signal
from contracts import streams
from libs.registry.models import CallbackEndpoint
from libs.registry.secrets import new_secret
from libs.registry.store import Registry

# The lifecycle events of a signal that is executed, each a delivery when subscribed.
EXECUTED_SIGNAL_EVENTS = {"webhook.received", "webhook.validated", "webhook.trade_executed"}
CONSUMERS = (streams.DISPATCHER.durable, streams.DISPATCHER_DELIVERIES.durable)


async def start(args: argparse.Namespace) -> Rig:
    """The pipeline, the dispatcher and one ingress process."""
    return await Rig.start((*PIPELINE, "dispatcher"))


async def _idle(rig: Rig, timeout: float) -> None:
    """Until the dispatcher's consumers have nothing pending or unacknowledged."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        infos = [await rig.bus.js.consumer_info(streams.STREAM, name) for name in CONSUMERS]
        if all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos):
            return
        await asyncio.sleep(0.2)


async def _until(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    # Polling: the receiver (a test helper) keeps a list, it signals nothing.
    while not predicate() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)


async def _phase(rig: Rig, targets: list[Target], receiver: Receiver, expected: int,
                 args: argparse.Namespace) -> dict[str, Any]:
    before = rig.cpu()
    row = await send_phase(rig, round_robin(targets, args.signals, rate=args.rate), args.rate,
                           drain_timeout=args.drain_timeout)
    await _until(lambda: len(receiver.requests) >= expected, args.drain_timeout)
    await _idle(rig, args.drain_timeout)
    row["cpu"] = cpu_per_signal(before, rig.cpu(), args.signals)
    row["deliveries"] = len(receiver.requests)
    row["dispatcher_ms"] = row["cpu"]["per_process_ms"]["dispatcher"]
    return row


async def measure(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    """Without endpoints, then with one per tenant."""
    receiver = await Receiver().start()
    try:
        targets = await rig.targets(args.accounts)
        # A warm-up: every account's first signal, every process's first batch.
        await send_phase(rig, round_robin(targets, len(targets)), args.rate,
                         drain_timeout=args.drain_timeout)
        await _idle(rig, args.drain_timeout)
        without = await _phase(rig, targets, receiver, 0, args)
        registry = Registry(await rig.bus.kv(streams.BUCKET_REGISTRY), master_box())
        for t in targets:
            secret = new_secret()
            receiver.secrets.append(secret)
            await registry.put(CallbackEndpoint(
                id=f"cb-bench-{uuid.uuid4().hex[:8]}", tenant_id=t.tenant_id,
                url=f"{receiver.base_url}/hook/{t.tenant_id}", secret=secret,
                event_types=args.event_types))
        # The dispatcher hears of the endpoints through its registry watch: one signal
        # per tenant until each has had a delivery.
        await send_phase(rig, round_robin(targets, len(targets)), args.rate,
                         drain_timeout=args.drain_timeout)
        paths = {f"/hook/{t.tenant_id}" for t in targets}
        await _until(lambda: paths <= {r.path for r in receiver.requests}, args.drain_timeout)
        await _idle(rig, args.drain_timeout)
        receiver.requests.clear()
        per_signal = len(set(args.event_types) & EXECUTED_SIGNAL_EVENTS)
        with_endpoint = await _phase(rig, targets, receiver, args.signals * per_signal, args)
        signed = sum(r.signed for r in receiver.requests)
    finally:
        await receiver.stop()
    return {"without_endpoint": without, "with_endpoint": with_endpoint,
            "signed_deliveries": signed}


def print_table(result: dict[str, Any]) -> None:
    """Dispatcher CPU per signal in both phases, then the phases."""
    s = result["settings"]
    print(f"\ndispatcher, {s['signals']} signals over {s['accounts']} tenants at "
          f"{s['rate']}/s: CPU ms per signal without an endpoint "
          f"{result['without_endpoint']['dispatcher_ms']}, with one per tenant "
          f"({', '.join(s['event_types'])}; "
          f"{result['with_endpoint']['deliveries']} deliveries, "
          f"{result['signed_deliveries']} correctly signed) "
          f"{result['with_endpoint']['dispatcher_ms']}")
    for name in ("without_endpoint", "with_endpoint"):
        print(f" {name.replace('_', ' ')}:")
        print_phase(result[name])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--signals", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--event-types", nargs="+",
                        default=["webhook.trade_executed", "webhook.failed"],
                        help="what each endpoint subscribes to (default: as a new "
                        "endpoint does)")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main("dispatcher", measure, start, print_table, parse_args()))
