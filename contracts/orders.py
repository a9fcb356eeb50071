"""Orders and fills as they travel between risk, executor and the monitors."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

import msgspec

from contracts.signals import Intent, OrderType

Side = Literal["buy", "sell"]
TimeInForce = Literal["day", "gtc", "ioc"]
Leg = Literal["", "sl", "tp"]
OrderStatus = Literal["filled", "open", "canceled", "rejected", "expired"]


class Sizing(msgspec.Struct, frozen=True, kw_only=True):
    """How risk reached an order's size, kept with the order for the audit trail.

    ``mode`` is the strategy's sizing mode (``auto``, ``percent_equity``, ...);
    ``basis`` what the size came from: ``alert_quantity`` (the alert said so),
    ``percent_equity``, ``fixed_quantity``, ``notional`` for entries; ``position``
    (all of it), ``alert_quantity`` or ``percent_of_position`` for exits.
    ``quantity`` is the size reached (without the part of a flip that closes the
    opposite position); ``detail`` shows the arithmetic.
    """

    mode: str
    basis: str
    quantity: Decimal
    detail: str = ""


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
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    # A dollar amount instead of a quantity (fractional, market, day orders only);
    # ``quantity`` then holds the estimate at ``reference_price``.
    notional: Decimal | None = None
    time_in_force: TimeInForce = "day"
    close_position: bool = False
    # A partial exit: never more than the position held at execution, never across
    # zero (clamped to the position; refused when flat).
    reduce_only: bool = False
    # Part of ``quantity`` that closes an opposite position first (a flip: short
    # entry while long). Adapters that cannot cross zero in one order split it.
    close_quantity: Decimal = Decimal(0)
    # Protective legs of a bracket order, where the broker supports it.
    take_profit_price: Decimal | None = None
    stop_loss_price: Decimal | None = None
    # A protective leg placed after an entry filled (``sl``/``tp``); legs of one
    # entry share an ``oco_group``: when one fills, the others are cancelled.
    leg: Leg = ""
    oco_group: str = ""
    # A trailing stop: the stop follows the market at this percent distance.
    trail_pct: Decimal | None = None
    # How the size was reached (risk's orders; None for legs and liquidations).
    sizing: Sizing | None = None
    # A ``close_all`` of the whole account (``symbol`` ""): the symbols held when risk
    # decided, each closed by its own order ``<client_order_id>-<symbol hash>``.
    symbols: list[str] = []


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


class BrokerOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order as the broker knows it: resting (``open``), done, or filled.

    ``fill`` is set exactly when ``status`` is ``filled``. An order that ended with
    only part of it filled (cancelled or expired after a partial fill) is
    ``filled`` for that part, ``fill.quantity`` below ``quantity`` and ``reason``
    saying why the rest did not fill. While an order rests, ``filled_quantity`` and
    ``average_fill_price`` report the part filled so far (a partial fill).
    """

    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType
    status: OrderStatus
    submitted_at: datetime
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    notional: Decimal | None = None
    close_quantity: Decimal = Decimal(0)
    leg: Leg = ""
    oco_group: str = ""
    trail_pct: Decimal | None = None
    reason: str = ""
    fill: Fill | None = None
    filled_quantity: Decimal = Decimal(0)
    average_fill_price: Decimal | None = None



LEG_SUFFIXES = ("-sl", "-tp")


def entry_order_id(client_order_id: str) -> str:
    """The entry a protective leg protects: ``abc-sl`` / ``abc-tp`` → ``abc`` (any
    other id is its own entry)."""
    for suffix in LEG_SUFFIXES:
        if client_order_id.endswith(suffix):
            return client_order_id.removesuffix(suffix)
    return client_order_id
