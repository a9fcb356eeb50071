"""Composition root of the auditor service."""

from __future__ import annotations

import asyncio
from pathlib import Path

from libs.runtime.bus import Bus
from libs.runtime.clock import SystemClock
from libs.runtime.config import Settings
from libs.runtime.service import Runnable, run_consumers
from projections import checkpoint
from projections.logbook import LogBook
from projections.persistence import parse_store_url
from projections.projector import AccountsProjector
from projections.readmodel import open_read_model
from projections.signal_store import open_signal_store
from projections.signals_projector import SignalsProjector
from projections.store import open_store
from projections.timeline_projector import TimelineProjector
from projections.timeline_store import open_timeline
from services.auditor.checkpoints import Checkpointer
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
    logbook = None
    if settings.log_files:
        logbook = await asyncio.to_thread(LogBook, store, settings.log_folder,
                                          settings.log_files_max_bytes,
                                          settings.log_files_backups)
        projectors.append(logbook)
    # Catch up on anything stored before a crash but not yet projected.
    for projector in projectors:
        await asyncio.to_thread(projector.catch_up)
    loops: list[Runnable] = []
    if settings.checkpoint_key:
        # After the catch-up above: a first checkpoint walks the whole chain, which
        # the batches wait for only as long as one checkpoint takes.
        signer = Checkpointer(store, checkpoint.load_key(Path(settings.checkpoint_key)),
                              settings.checkpoints, location.describe(), SystemClock(),
                              settings.checkpoint_every_events, settings.checkpoint_interval_s)
        projectors.append(signer)
        loops.append(signer)

    async def build(bus: Bus) -> list[Runnable]:
        return [AuditConsumer(bus, store, projectors,
                              linger=settings.auditor_linger_ms / 1000), *loops]

    try:
        await run_consumers("auditor", settings, build)
    finally:
        store.close()
        read_model.close()
        signals.close()
        timeline.close()
        if logbook is not None:
            logbook.close()
