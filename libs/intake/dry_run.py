"""Whether a webhook request asks for a dry run: ``?dry_run=1`` or ``X-Dry-Run: 1``.

A dry run is validated and decided by risk like any alert, then ends in a
``webhook.trade_executed`` with ``dry_run: true`` and no fill: nothing reaches a
broker, nothing is reserved or counted against a limit.
"""

from __future__ import annotations

from collections.abc import Mapping

from libs.http.problems import Problem

HEADER = "X-Dry-Run"
_YES = frozenset({"1", "true", "yes", "on"})
_NO = frozenset({"", "0", "false", "no", "off"})


def dry_run_requested(query: Mapping[str, str], headers: Mapping[str, str]) -> bool:
    """True when the query or the header says so; 422 naming it for any other value."""
    answer = False
    for field, value in (("dry_run", query.get("dry_run")), (HEADER, headers.get(HEADER))):
        if value is None:
            continue
        word = value.strip().lower()
        if word not in _YES | _NO:
            raise Problem(422, "invalid_field", f"{field}: 1/true or 0/false", field=field)
        answer = answer or word in _YES
    return answer


def dry_run_key(key: str, dry_run: bool) -> str:
    """The de-duplication key of a dry run: never the same alert as a real one."""
    return f"dry-run:{key}" if dry_run else key
