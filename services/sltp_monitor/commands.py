"""Operator commands answered over NATS request/reply, and the cleanup timer.

Ingress turns ``POST /api/v1/cleanup`` and ``GET /api/v1/status`` into requests on
these subjects; one sl-tp-monitor instance (queue group) answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from nats.aio.msg import Msg

from contracts import subjects
from libs.brokers.factory import Brokers
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.timers import Wait, run_every, stopped_within
from services.sltp_monitor.cleanup import OrphanCleanup
from services.sltp_monitor.status import account_status

log = logging.getLogger(__name__)


class Commands:
    """Serves the command subjects and runs the periodic orphan cleanup."""

    def __init__(self, bus: Bus, cleanup: OrphanCleanup, registry: Registry, brokers: Brokers,
                 cleanup_interval_s: float, wait: Wait = stopped_within) -> None:
        self.bus = bus
        self.cleanup = cleanup
        self.registry = registry
        self.brokers = brokers
        self.cleanup_interval_s = cleanup_interval_s
        self.wait = wait

    async def _answer(self, msg: Msg) -> None:
        try:
            request: dict[str, Any] = orjson.loads(msg.data) if msg.data else {}
            if msg.subject == subjects.CLEANUP_COMMAND:
                body: dict[str, Any] = {"canceled": await self.cleanup.run()}
            else:
                body = {"accounts": await account_status(self.registry, self.brokers,
                                                         request.get("account_id"))}
        except Exception as exc:
            log.exception("command %s failed", msg.subject)
            body = {"error": "command_failed", "message": type(exc).__name__}
        await msg.respond(orjson.dumps(body))

    async def run(self, stop: asyncio.Event) -> None:
        """Answer commands and clean up every ``cleanup_interval_s`` until ``stop``."""
        subs = [await self.bus.nc.subscribe(subject, queue="sltp_monitor", cb=self._answer)
                for subject in (subjects.CLEANUP_COMMAND, subjects.STATUS_COMMAND)]
        try:
            await run_every(stop, self.cleanup_interval_s, self.cleanup.run,
                            "orphan cleanup", wait_first=True, wait=self.wait)
        finally:
            for sub in subs:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
