"""A service that has not reached NATS yet still stops on SIGTERM (it kept trying to
connect, ignoring the stop, until NATS came: a stop never finished)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from harness import ROOT, wait_until


async def test_sigterm_stops_a_service_still_waiting_for_nats(tmp_path: Path) -> None:
    log = tmp_path / "validator.log"
    # Nothing listens on port 9: every attempt to connect is refused.
    env = {**os.environ, "NATS_URL": "nats://127.0.0.1:9", "TRADEHOOKS_DATA_DIR": str(tmp_path)}
    with log.open("ab") as out:
        service = subprocess.Popen([sys.executable, "-m", "cli.main", "run", "validator"],
                                   env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        await wait_until(lambda: "Connect call failed" in log.read_text(), timeout=30,
                         message="the service to try NATS")
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=20) == 0, log.read_text()
    finally:
        service.kill()
        service.wait()
