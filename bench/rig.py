"""What the pipeline benchmarks share: a locally started system, CPU time per process
read from ``/proc``, the machine's load, and a watch on the stream that says which
accepted signals ended.

A :class:`Rig` is a private nats-server (embedded), the services as real processes
(``python -m cli.main run <service>``, as ``tradehooks up`` runs them) and a SQLite
event store under a temp dir. CPU is counted per process as user + system time; the
store is written by the auditor, so its cost is the auditor's. The benchmark process
itself (load generator, stream watch) is reported apart and left out of the totals.
CPU time, unlike wall time, survives a machine shared with other work; the load
average is recorded next to every measurement all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from nats.js.api import ConsumerConfig, DeliverPolicy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import TEST_MASTER_KEY, System, connect_bus, provision  # noqa: E402

from bench.alerts import Target  # noqa: E402
from contracts import streams, subjects  # noqa: E402
from contracts.webhook_urls import webhook_url  # noqa: E402
from libs.runtime.bus import Bus  # noqa: E402
from libs.runtime.embedded_nats import EmbeddedNats, free_port  # noqa: E402

PIPELINE = ("auditor", "validator", "risk", "executor", "sl-tp-monitor")
TICKS = os.sysconf("SC_CLK_TCK")
BENCH = "bench (generator)"
# The test harness runs the timers fast (short tests); a benchmark runs them as
# deployed (libs/runtime/config.py defaults): idle they cost the pipeline ~58 ms of CPU
# a second at the test settings, ~28 ms at these.
# Nor do they read the tests' clock file (a file read per request at ingress: 7 % of
# its CPU in a profile): the wall clock, as deployed.
PRODUCTION_TIMERS = {"TRADEHOOKS_ORDER_SYNC_INTERVAL_S": "1.0",
                     "TRADEHOOKS_BREAKER_INTERVAL_S": "10.0",
                     "TRADEHOOKS_TEST_CLOCK_FILE": ""}


def cpu_seconds(pid: int | str = "self") -> float:
    """User plus system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages (``/proc/loadavg``)."""
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def percentile_ms(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of seconds, in ms; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return round(ordered[index] * 1000, 2)


def latency_summary(values: list[float]) -> dict[str, float]:
    """p50, p99, p99.9 and max of seconds, in ms."""
    return {"p50_ms": percentile_ms(values, 50), "p99_ms": percentile_ms(values, 99),
            "p999_ms": percentile_ms(values, 99.9), "max_ms": percentile_ms(values, 100)}


def cpu_per_signal(before: dict[str, float], after: dict[str, float],
                   signals: int) -> dict[str, Any]:
    """CPU ms per signal of every process between two readings, and their total (the
    benchmark's own process apart: it is not part of the system)."""
    per = {k: round((after[k] - before.get(k, 0.0)) / max(signals, 1) * 1000, 3)
           for k in after}
    system = {k: v for k, v in per.items() if k != BENCH}
    return {"per_process_ms": per, "total_ms": round(sum(system.values()), 3),
            "bench_ms": per.get(BENCH, 0.0)}


class _Ended(msgspec.Struct):
    signal_id: str = ""
    occurred_at: datetime | None = None


_ended = msgspec.json.Decoder(_Ended)


# The hops of an executed signal, in the order its events reach the stream.
HOPS = ("webhook.received", "webhook.validated", "order.requested", "webhook.trade_executed")


async def hop_latencies(bus: Bus, first_seq: int, timeout: float = 60.0
                        ) -> dict[str, dict[str, dict[str, float]]]:
    """Where a signal's time goes, read back from the stream after a phase: for each
    hop between consecutive events of :data:`HOPS`, ``in_stage`` (the earlier event
    stored on the stream → the stage's ``occurred_at`` on the next: fetch, queueing
    in the stage and its handling) and ``to_stream`` (that ``occurred_at`` → stored:
    the publish), in ms, over the signals whose events are on the stream from
    ``first_seq`` up to its last sequence now (read with an ordered consumer)."""
    last = (await bus.js.stream_info(streams.STREAM)).state.last_seq
    seen: dict[str, dict[str, tuple[float, float]]] = {}
    done = asyncio.Event()
    if last < first_seq:
        done.set()

    async def on_message(msg: Any) -> None:
        meta = msg.metadata
        kind = ".".join(msg.subject.split(".")[:2])
        if kind in HOPS and meta.sequence.stream >= first_seq:
            with contextlib.suppress(msgspec.DecodeError):
                event = _ended.decode(msg.data)
                if event.signal_id and event.occurred_at is not None:
                    seen.setdefault(event.signal_id, {})[kind] = (
                        event.occurred_at.timestamp(), meta.timestamp.timestamp())
        if meta.sequence.stream >= last:
            done.set()

    sub = await bus.js.subscribe(
        ">", stream=streams.STREAM, cb=on_message, ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                              opt_start_seq=first_seq))
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    out: dict[str, dict[str, dict[str, float]]] = {}
    for before, after in itertools.pairwise(HOPS):
        pairs = [(times[before], times[after]) for times in seen.values()
                 if before in times and after in times]
        out[f"{before} -> {after}"] = {
            "in_stage": latency_summary([b[0] - a[1] for a, b in pairs]),
            "to_stream": latency_summary([b[1] - b[0] for _, b in pairs]),
        }
    return out


@dataclass
class StreamWatch:
    """Which signals the stream says were received and which ended, from a start
    sequence on (ordered consumers: nothing on the stream is skipped)."""

    bus: Bus
    received: set[str] = field(default_factory=set)
    # signal id -> (terminal event type, when the service recorded it, when seen here)
    ended: dict[str, tuple[str, float, float]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _subs: list[Any] = field(default_factory=list)

    async def start(self) -> None:
        """Watch ``webhook.received`` and both terminal subjects from now on."""
        info = await self.bus.js.stream_info(streams.STREAM)
        first = info.state.last_seq + 1
        for subject, kind in ((subjects.RECEIVED, "received"),
                              (subjects.TRADE_EXECUTED, "webhook.trade_executed"),
                              (subjects.FAILED, "webhook.failed")):
            self._subs.append(await self.bus.js.subscribe(
                subject, stream=streams.STREAM, ordered_consumer=True,
                cb=self._callback(kind),
                config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                      opt_start_seq=first)))

    def _callback(self, kind: str) -> Any:
        async def on_message(msg: Any) -> None:
            event = _ended.decode(msg.data)
            if kind == "received":
                self.received.add(event.signal_id)
                return
            if event.signal_id not in self.ended:
                at = event.occurred_at.timestamp() if event.occurred_at else time.time()
                self.ended[event.signal_id] = (kind, at, time.time())
            self.changed.set()
        return on_message

    async def wait(self, ids: set[str], timeout: float) -> float:
        """Wait until every id ended or ``timeout`` passed; the seconds it took."""
        began = time.monotonic()
        deadline = began + timeout
        while not ids <= self.ended.keys():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
        return time.monotonic() - began

    def outcome(self, ids: set[str]) -> dict[str, int]:
        """Of ``ids`` (accepted signals): how many the stream shows received, executed,
        failed, and how many never ended (lost) or were never received."""
        kinds = [self.ended[s][0] for s in ids if s in self.ended]
        return {"accepted": len(ids),
                "received_on_stream": len(ids & self.received),
                "executed": kinds.count("webhook.trade_executed"),
                "failed": kinds.count("webhook.failed"),
                "not_ended": len(ids - self.ended.keys())}

    async def stop(self) -> None:
        """Unsubscribe."""
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


async def launch(services: tuple[str, ...] = PIPELINE, *, ingress_workers: int = 1,
                 env: dict[str, str] | None = None) -> tuple[EmbeddedNats, System]:
    """A private nats-server and the processes of a :class:`Rig`, ready."""
    os.environ.setdefault("TRADEHOOKS_MASTER_KEY", TEST_MASTER_KEY)
    tmp = Path(tempfile.mkdtemp(prefix="tradehooks-bench-"))
    nats = EmbeddedNats(tmp / "nats", port=free_port())
    await nats.start()
    data = tmp / "data"
    data.mkdir()
    system = System(nats=nats, data_dir=data, database_url="", http_port=free_port())
    extra = {"TRADEHOOKS_HTTP_WORKERS": str(ingress_workers), **PRODUCTION_TIMERS,
             **(env or {})}
    try:
        for service in services:
            system.start(service, **extra)
        for n in range(1, ingress_workers + 1):
            system.start("ingress", "ingress" if n == 1 else f"ingress-{n}", **extra)
        await system.wait_ready()
    except BaseException:
        system.stop_all()
        nats.stop()
        raise
    return nats, system


def stop_processes(nats: EmbeddedNats, system: System) -> None:
    """Stop the services and nats-server of :func:`launch`; remove their temp dir."""
    system.stop_all()
    nats.stop()
    shutil.rmtree(system.data_dir.parent, ignore_errors=True)


@dataclass
class Rig:
    """A private nats-server and the given services as processes, a bus connection and
    a stream watch."""

    nats: EmbeddedNats
    system: System
    bus: Bus
    watch: StreamWatch

    @classmethod
    async def start(cls, services: tuple[str, ...] = PIPELINE, *, ingress_workers: int = 1,
                    env: dict[str, str] | None = None) -> Rig:
        """Start nats-server, ``services`` and ``ingress_workers`` ingress processes
        (sharing the port with SO_REUSEPORT when more than one); wait until ready."""
        nats, system = await launch(services, ingress_workers=ingress_workers, env=env)
        try:
            return await cls.attach(nats, system)
        except BaseException:
            system.stop_all()
            nats.stop()
            raise

    @classmethod
    async def attach(cls, nats: EmbeddedNats, system: System) -> Rig:
        """A rig on running processes: a bus connection and a stream watch (bound to
        the running event loop)."""
        bus = await connect_bus(nats.url)
        watch = StreamWatch(bus)
        await watch.start()
        return cls(nats, system, bus, watch)

    async def detach(self) -> None:
        """Close the bus connection; the processes keep running."""
        await self.watch.stop()
        await self.bus.close()

    async def stop(self) -> None:
        """Stop every process started here and remove their files."""
        await self.detach()
        stop_processes(self.nats, self.system)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of every service process, the nats-server and this one."""
        out = {name: cpu_seconds(proc.pid) for name, proc in self.system.processes.items()
               if proc.poll() is None}
        assert self.nats.process is not None
        out["nats-server"] = cpu_seconds(self.nats.process.pid)
        out[BENCH] = cpu_seconds()
        return out

    def peak_rss(self) -> dict[str, float]:
        """Peak RSS (MB) of every running service process."""
        return {name: peak_rss_mb(proc.pid) for name, proc in self.system.processes.items()
                if proc.poll() is None}

    def stop_pipeline(self) -> None:
        """Stop every service but ingress (ingress measured alone)."""
        for name in [n for n in self.system.processes if not n.startswith("ingress")]:
            self.system.terminate(name)
            del self.system.processes[name]

    async def targets(self, count: int) -> list[Target]:
        """``count`` fresh tenants, each with a paper account and a strategy sized by
        the alert's contracts (no order-notional limit)."""
        out = []
        for _ in range(count):
            t = await provision(self.bus, sizing_mode="alert_contracts",
                                max_order_notional=None)
            out.append(Target(webhook_url(self.system.api_url, t.tenant.id, t.strategy.slug),
                              t.strategy.secret, t.tenant.id, t.account.id))
        return out

    @property
    def http_port(self) -> int:
        """The public (ingress) port."""
        return self.system.http_port


def environment(rig: Rig | None = None) -> dict[str, Any]:
    """What the numbers depend on: cores, load average now, settings of the rig."""
    out: dict[str, Any] = {"cores": os.cpu_count(), "load_average": load_average(),
                           "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if rig is not None:
        out["processes"] = sorted(rig.system.processes)
    return out

