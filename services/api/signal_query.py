"""The query string of ``GET /api/v1/signals`` → a :class:`SignalQuery`, or a 422.

Pure: no I/O. Every parameter is checked before any lookup, and a bad one is a 422
naming it (``field``), never a guess.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime

from contracts.identifiers import ACCOUNT_ID, SIGNAL_ID, STRATEGY_ID, SYMBOL, Shape
from libs.http.problems import Problem
from projections.signal_store import SignalQuery
from projections.signals import STATUSES, SignalRow, to_us

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Unix seconds below this are plausible; above, a number is refused (not milliseconds).
_MAX_UNIX_S = 253_402_300_799  # 9999-12-31T23:59:59Z


def _invalid(field: str, message: str) -> Problem:
    return Problem(422, "invalid_field", f"{field}: {message}", field=field)


def _shaped(params: Mapping[str, str], field: str, shape: Shape) -> str | None:
    value = params.get(field)
    if value is None or value == "":
        return None
    problem = shape.problem(value)
    if problem is not None:
        raise _invalid(field, problem)
    return value


def parse_time(value: str, field: str) -> int:
    """An ISO 8601 time (UTC when it names no zone) or Unix seconds → microseconds."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not 0 <= seconds <= _MAX_UNIX_S:
            raise _invalid(field, "Unix seconds from 0 to 253402300799")
        return round(seconds * 1_000_000)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _invalid(field, "an ISO 8601 time (2026-12-01T09:30:00Z) or Unix "
                              "seconds") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_us(moment)


def encode_cursor(row: SignalRow) -> str:
    """The opaque cursor that continues after ``row``."""
    raw = f"{row.received_us}.{row.seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[int, int]:
    """``(received_us, seq)`` of a cursor from :func:`encode_cursor`; 422 otherwise."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
        us, seq = raw.split(".")
        if not (us.lstrip("-").isdigit() and seq.isdigit()) or len(raw) > 40:
            raise ValueError(raw)
        return int(us), int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _invalid("cursor", "not a cursor this API gave (use next_cursor as it is)"
                       ) from exc


def parse_limit(params: Mapping[str, str]) -> int:
    """``limit``: 1 to :data:`MAX_LIMIT`, :data:`DEFAULT_LIMIT` when absent."""
    value = params.get("limit")
    if value is None or value == "":
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise _invalid("limit", f"a whole number from 1 to {MAX_LIMIT}")
    return int(value)


def parse_filters(params: Mapping[str, str], tenant_id: str | None) -> SignalQuery:
    """The filters every signal query shares (the list, the live stream)."""
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise _invalid("status", f"one of {', '.join(STATUSES)}")
    return SignalQuery(
        tenant_id=tenant_id,
        strategy_id=_shaped(params, "strategy_id", STRATEGY_ID),
        account_id=_shaped(params, "account_id", ACCOUNT_ID),
        status=status,
        symbol=_shaped(params, "symbol", SYMBOL),
    )


def parse_query(params: Mapping[str, str], tenant_id: str | None) -> SignalQuery:
    """The whole list query; ``tenant_id`` is the caller's scope (None: every tenant)."""
    base = parse_filters(params, tenant_id)
    since = parse_time(params["since"], "since") if params.get("since") else None
    until = parse_time(params["until"], "until") if params.get("until") else None
    if since is not None and until is not None and until <= since:
        raise _invalid("until", "must be later than since")
    cursor = params.get("cursor")
    return SignalQuery(
        tenant_id=base.tenant_id, strategy_id=base.strategy_id, account_id=base.account_id,
        status=base.status, symbol=base.symbol, since_us=since, until_us=until,
        q=_shaped(params, "q", SIGNAL_ID),
        before=decode_cursor(cursor) if cursor else None,
        limit=parse_limit(params),
    )
