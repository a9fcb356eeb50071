"""Deterministic ids: the same input always yields the same event id."""

from __future__ import annotations

from uuid import NAMESPACE_URL, uuid5

_NAMESPACE = uuid5(NAMESPACE_URL, "https://tradehooks.dev/event")


def derived_event_id(signal_id: str, stage: str) -> str:
    """Event id of the output of ``stage`` for a signal (stable across redeliveries)."""
    return str(uuid5(_NAMESPACE, f"{signal_id}:{stage}"))
