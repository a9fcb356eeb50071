"""The fork server that starts the tests' service processes (tests/service_forks.py)
behaves as ``subprocess.Popen`` does where the tests rely on it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import wait_until
from service_forks import ROOT, ServiceForks

ARGV = [sys.executable, "-m", "cli.main"]


@pytest.fixture
def forks() -> Iterator[ServiceForks]:
    forks = ServiceForks()
    yield forks
    forks.close()


def test_a_child_runs_the_cli_with_its_own_environment_and_log(
        forks: ServiceForks, tmp_path: Path) -> None:
    log = tmp_path / "help.log"
    child = forks.start([*ARGV, "--help"], {**os.environ, "COLUMNS": "200"}, ROOT, log)
    assert child.wait(timeout=20) == 0
    assert child.poll() == 0
    assert "usage: tradehooks" in log.read_text()
    assert forks.reaped_cpu > 0


async def test_a_child_is_a_process_of_its_own_to_stop_and_kill(
        forks: ServiceForks, tmp_path: Path) -> None:
    # Nothing listens there: the service waits for NATS until it is stopped.
    env = {**os.environ, "NATS_URL": "nats://127.0.0.1:9", "TRADEHOOKS_DATA_DIR": str(tmp_path)}
    child = forks.start([*ARGV, "run", "validator"], env, ROOT, tmp_path / "validator.log")
    log = tmp_path / "again.log"
    other = None
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.5)
        assert child.poll() is None
        os.kill(child.pid, 0)  # there, as a process of its own
        child.kill()
        assert child.wait(timeout=20) == -signal.SIGKILL
        child.kill()  # ended: signals nothing (its pid may be another process's by now)
        other = forks.start([*ARGV, "run", "validator"], env, ROOT, log)
        assert other.poll() is None, "a new child is not taken for an ended one"
        await wait_until(lambda: log.exists() and "nats error" in log.read_text(), timeout=20,
                         message="the service to wait for NATS (its stop handler is set)")
        other.terminate()
        assert other.wait(timeout=30) == 0
    finally:
        for process in (child, other):
            if process is not None:
                process.kill()
