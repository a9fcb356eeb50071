"""Runs each service as its own process and restarts one that dies."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

SERVICES = ("auditor", "validator", "risk", "executor", "sl-tp-monitor", "dispatcher",
            "ingress", "api", "notifier")


@dataclass
class Child:
    """One supervised service process (``name`` tells copies of a service apart)."""

    service: str
    name: str
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Supervisor:
    """Start, watch and stop the service processes."""

    def __init__(self, env: dict[str, str], services: tuple[str, ...] = SERVICES,
                 copies: dict[str, int] | None = None) -> None:
        self.env = env
        self.children: dict[str, Child] = {}
        for service in services:
            for n in range(1, (copies or {}).get(service, 1) + 1):
                name = service if n == 1 else f"{service}-{n}"
                self.children[name] = Child(service, name)
        self.stopping = False

    async def _spawn(self, child: Child) -> None:
        child.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.main", "run", child.service, env=self.env,
        )
        log.info("started %s (pid %d)", child.name, child.process.pid)

    async def _watch(self, child: Child) -> None:
        while not self.stopping:
            await self._spawn(child)
            assert child.process is not None
            code = await child.process.wait()
            if self.stopping:
                return
            child.restarts += 1
            delay = min(0.5 * 2 ** min(child.restarts, 5), 10.0)
            log.warning("%s exited with %s; restarting in %.1f s", child.name, code, delay)
            await asyncio.sleep(delay)

    async def start(self) -> None:
        """Launch every service."""
        for child in self.children.values():
            child.task = asyncio.create_task(self._watch(child))
        await asyncio.sleep(0)

    async def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every child, wait for them to drain, SIGKILL stragglers."""
        self.stopping = True
        for child in self.children.values():
            if child.process and child.process.returncode is None:
                child.process.send_signal(signal.SIGTERM)
        for child in self.children.values():
            if child.process is None:
                continue
            try:
                await asyncio.wait_for(child.process.wait(), timeout)
            except TimeoutError:
                log.warning("%s did not stop in %.0f s; killing", child.name, timeout)
                child.process.kill()
                await child.process.wait()
        for child in self.children.values():
            if child.task:
                child.task.cancel()


def child_env(base: dict[str, str] | None = None, **overrides: str) -> dict[str, str]:
    """The environment for service processes."""
    env = dict(os.environ if base is None else base)
    env.update(overrides)
    return env
