"""The system as a user runs it (``tradehooks up``) and Debian's Chromium driving the
web console through Playwright. One system per module: the browser tests share it
(each creates what it needs under its own names), which keeps the suite near a minute.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import ROOT
from ports import free_port

from services.api.console.assets import built

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.browser


def _skip_reason() -> str:
    if not CHROMIUM.exists():
        return "no /usr/bin/chromium (make browser installs it)"
    if not built():
        return "the console is not built (make console)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is missing (make install)"
    return ""


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``tradehooks up`` on a fresh data dir; yields its demo.json (plus ``output``)."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    data_dir = tmp_path_factory.mktemp("up") / "var"
    env = {k: v for k, v in os.environ.items()
           if k not in ("NATS_URL", "TRADEHOOKS_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR",
                        "TRADEHOOKS_MASTER_KEY")}
    # Callback endpoints and webhook channels on this machine (a test receiver).
    env["TRADEHOOKS_CALLBACK_ALLOW_LOOPBACK"] = "true"
    log = (data_dir.parent / "up.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--data-dir", str(data_dir),
         "--port", str(free_port()), "--operator-port", str(free_port())], env=env,
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    output = data_dir.parent / "up.log"
    try:
        deadline = time.monotonic() + 90
        while b"Press Ctrl-C to stop" not in output.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(output.read_text()[-3000:])
            time.sleep(0.1)
        demo = json.loads((data_dir / "demo.json").read_text())
        yield {**demo, "output": output}
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    text = output.read_text()
    assert "Traceback" not in text, text[-4000:]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's; Playwright's own download does not work here)."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no session) with clipboard access, at 1280x800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()
