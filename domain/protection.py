"""Pure rule: protective orders follow the account's position, whoever changed it.

A protective leg (stop-loss / take-profit) may only ever *reduce* a position: it
sits on the closing side and covers at most the position held. Whenever a fill
changes the position in a symbol — an entry, an exit, a flip, a leg, a breaker
liquidation, from any strategy — the legs of that symbol are checked against this
rule, and the orphan cleanup checks every symbol with it. The broker that owns the
orders (the executor, or the paper simulator inside the same update as the fill)
carries out what :func:`leg_fixes` returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from contracts.orders import LEG_SUFFIXES, BrokerOrder, Side, entry_order_id

ZERO = Decimal(0)


@dataclass(frozen=True)
class LegFix:
    """What to do with one protective order: cancel it, or shrink it to ``quantity``."""

    client_order_id: str
    action: Literal["cancel", "resize"]
    reason: str
    quantity: Decimal = ZERO


def is_leg(order: BrokerOrder) -> bool:
    """A stop-loss or take-profit leg (by its kind, or by the id suffix convention)."""
    return bool(order.leg) or order.client_order_id.endswith(LEG_SUFFIXES)


def closing_side(position: Decimal) -> Side | None:
    """The side that reduces ``position`` (None when flat)."""
    if position == 0:
        return None
    return "sell" if position > 0 else "buy"


def _describe(symbol: str, position: Decimal) -> str:
    side = "long" if position > 0 else "short"
    return f"{side} {abs(position).normalize():f} {symbol}"


def leg_fixes(symbol: str, position: Decimal,
              orders: Iterable[BrokerOrder]) -> list[LegFix]:
    """The open legs of ``symbol`` that could add exposure to ``position``, and how to
    make each harmless.

    - no position: every leg is cancelled (nothing to protect);
    - a leg on the opening side (the position flipped under it) is cancelled;
    - legs of several entries (OCO groups): only the newest group protects, the
      older ones are cancelled (each group could fill once, together they could
      sell more than is held);
    - a leg larger than the position is shrunk to it.

    ``orders`` are in placement order (oldest first), as brokers list them.
    """
    legs = [o for o in orders if o.status == "open" and o.symbol == symbol and is_leg(o)]
    if not legs:
        return []
    fixes: list[LegFix] = []
    side = closing_side(position)
    if side is None:
        return [LegFix(o.client_order_id, "cancel", f"no position in {symbol} to protect")
                for o in legs]
    kept: list[BrokerOrder] = []
    for order in legs:
        if order.side != side:
            fixes.append(LegFix(
                order.client_order_id, "cancel",
                f"the position is now {_describe(symbol, position)}: a {order.side} leg "
                "would add to it"))
        else:
            kept.append(order)
    groups = [_group(o) for o in kept]
    newest = groups[-1] if groups else ""
    size = abs(position)
    for order, group in zip(kept, groups, strict=True):
        if group != newest:
            fixes.append(LegFix(order.client_order_id, "cancel",
                                "replaced by the legs of a newer entry"))
        elif order.quantity > size:
            fixes.append(LegFix(
                order.client_order_id, "resize",
                f"shrunk from {order.quantity.normalize():f} to the position of "
                f"{_describe(symbol, position)}", size))
    return fixes


def _group(order: BrokerOrder) -> str:
    """The OCO group of a leg: legs of one entry share it."""
    return order.oco_group or entry_order_id(order.client_order_id)


def violations(position_of: dict[str, Decimal],
               orders: Iterable[BrokerOrder]) -> list[tuple[BrokerOrder, LegFix]]:
    """Every open leg of an account that breaks the rule, with its fix (for the
    orphan cleanup, which looks at all symbols at once)."""
    open_orders = [o for o in orders if o.status == "open"]
    by_id = {o.client_order_id: o for o in open_orders}
    out: list[tuple[BrokerOrder, LegFix]] = []
    for symbol in sorted({o.symbol for o in open_orders if is_leg(o)}):
        for fix in leg_fixes(symbol, position_of.get(symbol, ZERO), open_orders):
            out.append((by_id[fix.client_order_id], fix))
    return out
