"""Composition root of the auditor service."""

from __future__ import annotations

import asyncio

from libs.runtime.bus import Bus
from libs.runtime.config import Settings
from libs.runtime.service import Runnable, run_consumers
from projections.persistence import parse_store_url
from projections.projector import AccountsProjector
from projections.readmodel import open_read_model
from projections.signal_store import open_signal_store
from projections.signals_projector import SignalsProjector
from projections.store import open_store
from projections.timeline_projector import TimelineProjector
from projections.timeline_store import open_timeline
from services.auditor.recorder import AuditConsumer, Projector


async def main(settings: Settings) -> None:
    """Run the auditor until SIGTERM."""
    location = parse_store_url(settings.store_url)
    read_model = await asyncio.to_thread(open_read_model, location)
    store = await asyncio.to_thread(open_store, settings.store_url)
    signals = await asyncio.to_thread(open_signal_store, location)
    timeline = await asyncio.to_thread(open_timeline, location)
    projectors: list[Projector] = [await asyncio.to_thread(AccountsProjector, store, read_model),
                  await asyncio.to_thread(SignalsProjector, store, signals),
                  await asyncio.to_thread(TimelineProjector, store, timeline)]
    # Catch up on anything stored before a crash but not yet projected.
    for projector in projectors:
        await asyncio.to_thread(projector.catch_up)

    async def build(bus: Bus) -> list[Runnable]:
        return [AuditConsumer(bus, store, projectors)]

    try:
        await run_consumers("auditor", settings, build)
    finally:
        store.close()
        read_model.close()
        signals.close()
        timeline.close()
