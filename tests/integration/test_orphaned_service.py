"""A supervised service whose supervisor dies (kill -9) ends on its own, even when its
stop never finishes (NATS went with the supervisor: calls that never answer)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from harness import ROOT, wait_until

# The service: supervised, stop handlers installed, then a stop that never ends (it
# ignores ``stop``), with the orphan deadline shortened to 1 s.
SERVICE = """
import asyncio, os, sys
from libs.runtime import service
service.ORPHAN_EXIT_S = 1.0
async def main():
    service.install_stop_handlers(asyncio.Event())
    open(sys.argv[1], "w").write(str(os.getpid()))
    await asyncio.sleep(3600)  # a stop that never finishes
asyncio.run(main())
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


async def test_an_orphaned_service_that_cannot_stop_exits_by_itself(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    env = {**os.environ, "TRADEHOOKS_SUPERVISED": "1", "PYTHONPATH": str(ROOT)}
    # The shell is the supervisor: it starts the service and is killed at once.
    supervisor = subprocess.Popen(
        ["/bin/sh", "-c", f'{sys.executable} -c "$0" {pid_file} & wait', SERVICE],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "",
                     timeout=30, message="the service to start")
    pid = int(pid_file.read_text())
    supervisor.kill()
    supervisor.wait()
    started = time.monotonic()
    await wait_until(lambda: not _running(pid), timeout=30,
                     message="the orphaned service to exit by itself")
    # Noticed within ~1 s, then 1 s to stop: well under the 30 s allowed.
    assert time.monotonic() - started < 15


async def test_a_service_that_starts_after_its_supervisor_died_stops(tmp_path: Path) -> None:
    """Slow to start (under load), a service can reach its stop handlers after the
    supervisor died: its parent is then already init, so it goes by the supervisor's
    pid in its environment (here a process that has ended) and stops at once."""
    gone = subprocess.Popen(["/bin/true"])
    gone.wait()
    pid_file = tmp_path / "pid"
    env = {**os.environ, "TRADEHOOKS_SUPERVISED": "1", "PYTHONPATH": str(ROOT),
           "TRADEHOOKS_SUPERVISOR_PID": str(gone.pid)}
    service = subprocess.Popen([sys.executable, "-c", SERVICE, str(pid_file)], env=env,
                               cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        await wait_until(lambda: service.poll() is not None, timeout=30,
                         message="the service to see it has no supervisor and end")
    finally:
        if service.poll() is None:
            service.kill()
    assert service.returncode == 70  # the stop never finished: ended by the deadline
