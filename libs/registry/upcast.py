"""Stored registry records written under older rules, read under today's (pure).

**Breaker units.** Until the percent rule, ``global_sl_pct`` / ``global_tp_pct`` were
fractions of base equity (0.9 = 90 %). A stored breaker without the ``units`` marker
is such a record. It is never read as percent: each value is multiplied by 100,
which is exactly how the old rule read it, so nothing changes meaning. A value
whose old reading is outside today's ranges (a stored ``"90"`` meant 9000 %, a stop
that trips at once; 1.0 meant a stop at 100 %) cannot be carried over: the breaker
is *removed* and the note says which value to set again in percent.

``upcast_record`` runs wherever a stored form is opened (KV reads, registry events
folded by ``rebuild-registry``), so no reader ever takes an old fraction for a
percent; ``libs/registry/migrations.py`` writes the result back at start-up.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from libs.registry.models import BreakerConfig

BREAKER_UNITS = "percent"
_BREAKER_PERCENTS = ("global_sl_pct", "global_tp_pct")


def upcast_record(kind: str, stored: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``stored`` (a record's stored form) under today's rules, and a note per change.

    Returns ``stored`` itself when nothing changes.
    """
    if kind != "account":
        return stored, []
    breaker = stored.get("breaker")
    if not isinstance(breaker, dict) or "units" in breaker:
        return stored, []
    label = f"account {stored.get('id', '?')}"
    converted, problems = _fractions_to_percents(breaker)
    if problems:
        notes = [f"{label}: breaker removed: {problem}; set breaker.{field} again in percent "
                 "(PATCH /api/v1/accounts/<id>)" for field, problem in problems]
        return {**stored, "breaker": None}, notes
    notes = [f"{label}: breaker.{field} {breaker[field]} (a fraction) is now "
             f"{converted[field]} (percent)" for field in _BREAKER_PERCENTS
             if breaker.get(field) is not None]
    return {**stored, "breaker": converted}, notes or [
        f"{label}: breaker marked as percent (no thresholds set)"]


def _fractions_to_percents(
        breaker: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    converted = {**breaker, "units": BREAKER_UNITS}
    for field in _BREAKER_PERCENTS:
        value = breaker.get(field)
        if value is None:
            continue
        try:
            percent = Decimal(str(value)) * 100
        except InvalidOperation:
            return breaker, [(field, f"{field} {value!r} is not a number")]
        converted[field] = format(percent.normalize(), "f")
    try:
        BreakerConfig.model_validate(converted)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "breaker"
        old = breaker.get(field)
        return breaker, [(field, f"{field} {old} was stored as a fraction "
                                 f"({converted.get(field)} %), and {first['msg']}")]
    return converted, []
