"""Orders and fills as they travel between risk, executor and the monitors."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

import msgspec

from contracts.signals import Intent, OrderType

Side = Literal["buy", "sell"]


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One order the risk service decided to place.

    ``close_position`` orders ask the broker to flatten ``symbol`` whatever its size
    at execution time, so ``quantity`` is advisory for them.
    """

    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    intent: Intent
    order_type: OrderType = "market"
    reference_price: Decimal | None = None
    time_in_force: Literal["day", "gtc", "ioc"] = "day"
    close_position: bool = False


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """What the broker did with an order."""

    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    average_price: Decimal
    fee: Decimal = Decimal(0)
    filled_at: datetime
    position_quantity: Decimal = Decimal(0)
    cash_after: Decimal | None = None
    realised_pnl: Decimal = Decimal(0)
