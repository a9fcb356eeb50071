"""The issue-14 benchmarks run (``make bench``'s sustained, latency, burst, ingress,
flatness and dispatcher modules), each at a tiny size on one shared system.

Only that they work is checked: every accepted signal ended, the stream and the
receiver saw what the benchmark says, the tables print and the results are JSON.
Never timings: this machine's speed is not under test here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from harness import System

from bench import burst, dispatcher, flatness, ingress, latency, sustained
from bench.rig import PIPELINE, Rig, launch, stop_processes
from libs.runtime.embedded_nats import EmbeddedNats

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def processes() -> Iterator[tuple[EmbeddedNats, System]]:
    """One nats-server, the pipeline and the dispatcher for the whole module."""
    loop = asyncio.new_event_loop()
    try:
        nats, system = loop.run_until_complete(launch((*PIPELINE, "dispatcher")))
    finally:
        loop.close()
    try:
        yield nats, system
    finally:
        stop_processes(nats, system)


@pytest.fixture
async def rig(processes: tuple[EmbeddedNats, System]) -> AsyncIterator[Rig]:
    attached = await Rig.attach(*processes)
    try:
        yield attached
    finally:
        await attached.detach()


def _all_ended(row: dict[str, Any]) -> None:
    assert row["statuses"] == {"202": row["sent"]}
    assert row["outcome"]["accepted"] == row["sent"]
    assert row["outcome"]["received_on_stream"] == row["sent"]
    assert row["outcome"]["not_ended"] == 0
    assert row["cpu"]["per_process_ms"]["nats-server"] >= 0
    assert set(row["cpu"]["per_process_ms"]) >= {"ingress", "risk", "auditor", "nats-server"}


def _printed(module: Any, result: dict[str, Any], args: Any,
             capsys: pytest.CaptureFixture[str]) -> str:
    result["settings"] = vars(args)
    json.dumps(result)
    module.print_table(result)
    return capsys.readouterr().out


async def test_sustained(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    args = sustained.parse_args(["--rate", "20", "--seconds", "1", "--accounts", "2"])
    result = await sustained.measure(rig, args)
    _all_ended(result)
    assert result["outcome"]["executed"] == 20
    assert result["target"]["nothing_lost"] is True
    assert "sustained end to end" in _printed(sustained, result, args, capsys)


async def test_latency(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    args = latency.parse_args(["--rate", "20", "--seconds", "1", "--warmup", "0.5",
                               "--accounts", "2"])
    result = await latency.measure(rig, args)
    _all_ended(result)
    assert result["to_trade_executed"]["p50_ms"] > 0
    assert "request -> webhook.trade_executed p99" in _printed(latency, result, args, capsys)


async def test_burst(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    args = burst.parse_args(["--alerts", "30", "--strategies", "3", "--connections", "3"])
    result = await burst.measure(rig, args)
    _all_ended(result)
    assert set(result["target"]) == {"answered_202_within_3s", "terminal_within_15s", "met"}
    assert "candle-close burst: 30 alerts from 3 strategies" in _printed(
        burst, result, args, capsys)


async def test_ingress(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    args = ingress.parse_args(["--capacity-rate", "60", "--latency-rate", "30",
                               "--seconds", "0.5", "--warmup", "0", "--accounts", "2"])
    result = await ingress.measure(rig, args)
    assert result["target"]["all_202"] is True
    assert result["capacity"]["sent"] == 30 and result["latency"]["sent"] == 15
    result["ingress_workers"] = 1
    out = _printed(ingress, {"runs": [result]}, args, capsys)
    assert "ingress alone, 1 process(es)" in out


async def test_flatness(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    args = flatness.parse_args(["--signals", "30", "--window", "10", "--spread", "10",
                                "--accounts", "2", "--concurrency", "4"])
    result = await flatness.measure(rig, args)
    windows = result["one_account"]["windows"]
    assert [w["signals_before"] for w in windows] == [0, 20]
    assert all(w["outcome"]["not_ended"] == 0 for w in [*windows, result["spread"]])
    assert result["spread"]["outcome"]["accepted"] == 10
    assert "one account: last window / first" in _printed(flatness, result, args, capsys)


async def test_dispatcher(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    args = dispatcher.parse_args(["--signals", "10", "--rate", "20", "--accounts", "2"])
    result = await dispatcher.measure(rig, args)
    _all_ended(result["without_endpoint"])
    _all_ended(result["with_endpoint"])
    assert result["without_endpoint"]["deliveries"] == 0
    # One delivery per signal (each ends once), every one signed with its secret.
    assert result["with_endpoint"]["deliveries"] == 10
    assert result["signed_deliveries"] == 10
    assert result["with_endpoint"]["dispatcher_ms"] > 0
    assert "CPU ms per signal without an endpoint" in _printed(dispatcher, result, args, capsys)
