"""What ``GET /api/v1/status`` shows per account, read from the brokers (read-only)."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from libs.brokers.factory import Brokers
from libs.registry.store import Registry

log = logging.getLogger(__name__)


async def account_status(registry: Registry, brokers: Brokers,
                         account_id: str | None = None) -> list[dict[str, Any]]:
    """Positions, open orders and bot state per account (all, or one)."""
    strategies = await registry.strategies()
    out: list[dict[str, Any]] = []
    for account in await registry.accounts():
        if account_id is not None and account.id != account_id:
            continue
        # One unreachable broker must not hide every other account's status.
        error: str | None = None
        try:
            reader = brokers.reader_for(account)
            snapshot = await reader.snapshot(account)
            orders = await reader.open_orders(account)
        except Exception as exc:
            log.warning("status of account %s: broker unavailable: %r", account.id, exc)
            snapshot, orders, error = None, [], f"broker unavailable: {type(exc).__name__}"
        out.append({
            "account_id": account.id, "tenant_id": account.tenant_id,
            "broker": account.broker, "active": account.active,
            "paused": account.paused, "paused_reason": account.paused_reason,
            "equity": str(snapshot.equity) if snapshot else None,
            "cash": str(snapshot.cash) if snapshot else None,
            "broker_error": error,
            "positions": {s: str(q) for s, q in sorted(snapshot.positions.items())}
            if snapshot else {},
            "open_orders": [msgspec.to_builtins(o) for o in orders],
            "breaker": account.breaker.model_dump(mode="json") if account.breaker else None,
            "strategies": [{"id": s.id, "slug": s.slug, "enabled": s.enabled}
                           for s in strategies if s.account_id == account.id],
        })
    return out
