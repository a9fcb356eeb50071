"""``tradehooks replay``: rebuild the projections from the event store."""

from __future__ import annotations

import sys

from cli.progress import ProgressBar
from libs.runtime.config import Settings
from projections.persistence import parse_store_url
from projections.projector import replay_accounts
from projections.readmodel import open_read_model
from projections.signal_store import open_signal_store
from projections.signals_projector import replay_signals
from projections.store import open_store


def replay(settings: Settings, progress: bool = False) -> int:
    """Rebuild every projection from scratch; prints what changed. Exit 0 on success.

    A progress bar goes to stderr when it is a terminal, or when ``progress`` is set.
    """
    location = parse_store_url(settings.store_url)
    read_model = open_read_model(location)
    signals = open_signal_store(location)
    store = open_store(settings.store_url)
    bar = history_bar = None
    try:
        if progress or sys.stderr.isatty():
            bar = ProgressBar(store.max_position(), "replay", unit="stored")
        report = replay_accounts(store, read_model, on_progress=bar.update if bar else None)
        if bar:
            bar.close()
            bar = None
            history_bar = ProgressBar(store.max_position(), "signal history", unit="stored")
        history = replay_signals(store, signals,
                                 on_progress=history_bar.update if history_bar else None)
    finally:
        for shown in (bar, history_bar):
            if shown:
                shown.close()
        store.close()
        read_model.close()
        signals.close()
    rate = report.events / report.seconds if report.seconds else 0.0
    print(f"replayed {report.events} events from {location.describe()} "
          f"up to position {report.position} in {report.seconds:.2f} s ({rate:,.0f} events/s)")
    print(f"accounts: {report.accounts}; identical to the live projection: "
          f"{'yes' if report.identical else 'no (the rebuilt state replaced it)'}")
    print(f"signal history: {history.signals} signals rebuilt in {history.seconds:.2f} s; "
          f"identical to the live history: "
          f"{'yes' if history.identical else 'no (the rebuilt history replaced it)'}")
    return 0
