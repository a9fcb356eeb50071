"""What claiming a delivery's record costs the dispatcher and nats-server, per claim.

A private nats-server and ``--deliveries`` records made once; then every record is
claimed again as a first delivery (create first: the create fails, the NATS client
reads the key to check for a deleted one, the claim reads it) and as a redelivered
message (read first), twice each, interleaved. CPU time of this process and of
nats-server is read from ``/proc`` around each pass (robust to a noisy machine); a
retry after a failed attempt is a redelivered message.

    .venv/bin/python -m bench.claim --deliveries 2000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from factories import NOW, TENANT_ID, make_failed
from harness import connect_bus, running_nats

from bench.results_file import save_results
from bench.rig import cpu_seconds, load_average
from contracts import streams
from contracts.events import CALLBACK_EVENT_TYPES, CallbackRequested
from libs.callbacks.deliveries import DeliveryLog
from libs.registry.models import CallbackEndpoint
from libs.registry.secrets import new_secret
from services.dispatcher.fanout import requests_for


def _requests(count: int) -> list[CallbackRequested]:
    endpoint = CallbackEndpoint(id="cb-bench-claim", tenant_id=TENANT_ID,
                                url="https://hooks.example.com/x", secret=new_secret(),
                                event_types=list(CALLBACK_EVENT_TYPES))
    out = []
    for i in range(count):
        event = requests_for(make_failed(event_id=f"evt-claim-{i}"), [endpoint], NOW)[0].event
        assert isinstance(event, CallbackRequested)
        out.append(event)
    return out


async def _pass(log: DeliveryLog, requests: list[CallbackRequested], server_pid: int,
                redelivered: bool) -> dict[str, Any]:
    """Claim every request once; CPU and wall time per claim."""
    client, server, wall = cpu_seconds(), cpu_seconds(server_pid), time.perf_counter()
    for seq, request in enumerate(requests):
        if await log.claim(request, seq, redelivered=redelivered) is None:
            raise AssertionError(f"claim {seq} found a repeat")
    n = len(requests)
    return {"redelivered": redelivered,
            "client_ms": round(1e3 * (cpu_seconds() - client) / n, 3),
            "nats_server_ms": round(1e3 * (cpu_seconds(server_pid) - server) / n, 3),
            "wall_ms": round(1e3 * (time.perf_counter() - wall) / n, 3)}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Records made once, then claimed again: create first, read first, twice each."""
    requests = _requests(args.deliveries)
    with tempfile.TemporaryDirectory(prefix="bench-claim-") as folder:
        async with running_nats(Path(folder)) as server:
            assert server.process is not None
            bus = await connect_bus(server.url)
            try:
                log = DeliveryLog(await bus.kv(streams.BUCKET_CALLBACK_DELIVERIES))
                for seq, request in enumerate(requests):
                    await log.claim(request, seq)
                load_before = load_average()
                passes = [await _pass(log, requests, server.process.pid, redelivered)
                          for redelivered in (False, True, False, True)]
            finally:
                await bus.close()
    return {"deliveries": args.deliveries, "passes": passes,
            "load": {"before": load_before, "after": load_average()}}


def main(argv: list[str] | None = None) -> int:
    """Run, print a line per pass, save the results."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=2000)
    result = asyncio.run(measure(parser.parse_args(argv)))
    for p in result["passes"]:
        how = "read first (redelivered)" if p["redelivered"] else "create first"
        print(f"claim of an existing record, {how}: client {p['client_ms']} ms CPU, "
              f"nats-server {p['nats_server_ms']} ms CPU, wall {p['wall_ms']} ms")
    print(f"load {result['load']}")
    save_results("claim", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
