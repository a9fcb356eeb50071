"""Orphan cleanup: protective legs whose position is gone get cancelled."""

from __future__ import annotations

from decimal import Decimal

from contracts.orders import BrokerOrder

LEG_SUFFIXES = ("-sl", "-tp")


def is_leg(order: BrokerOrder) -> bool:
    """A stop-loss or take-profit leg (by its kind, or by the id suffix convention)."""
    return bool(order.leg) or order.client_order_id.endswith(LEG_SUFFIXES)


def orphans(open_orders: list[BrokerOrder], positions: dict[str, Decimal]) -> list[BrokerOrder]:
    """Open legs whose symbol has no position: they could only open one by mistake."""
    return [o for o in open_orders
            if o.status == "open" and is_leg(o) and positions.get(o.symbol, Decimal(0)) == 0]
