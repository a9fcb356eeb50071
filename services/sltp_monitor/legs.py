"""Pure decisions for protective legs: where the stop-loss and take-profit go."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from contracts.orders import Fill, OrderRequest, Side
from domain.symbols import classify_symbol
from libs.brokers.capabilities import Capabilities, capabilities_of
from libs.registry.models import Strategy

HUNDRED = Decimal(100)
# Intents whose fills never get legs: they take a position off, not on.
EXITS = ("exit_long", "exit_short", "close", "close_all", "cancel_all")


def may_protect(request: OrderRequest | None, fill: Fill | None) -> bool:
    """Could this fill call for legs at all? Only an entry's own fill (not a leg's, an
    exit's, a close or a partial exit)."""
    return not (request is None or fill is None or request.leg or request.intent in EXITS
                or request.close_position or request.reduce_only)


def alert_legs(request: OrderRequest) -> bool:
    """Did the alert name its own stop-loss or take-profit?"""
    return request.stop_loss_price is not None or request.take_profit_price is not None


def bracket_at_broker(request: OrderRequest, broker: str | Capabilities) -> bool:
    """An entry that went to its broker as a bracket: its legs are at the broker
    already. Only where the broker declares native OCO/bracket orders for the
    symbol's asset class and size (Alpaca: whole-share equity orders, not notional)."""
    if request.stop_loss_price is None or request.take_profit_price is None \
            or request.notional is not None:
        return False
    return _capabilities(broker).native_legs(classify_symbol(request.symbol),
                                             request.quantity)


def _capabilities(broker: str | Capabilities) -> Capabilities:
    return broker if isinstance(broker, Capabilities) else capabilities_of(broker)


def legs_for_fill(request: OrderRequest, fill: Fill, strategy: Strategy,
                  broker: str | Capabilities,
                  position: Decimal) -> list[OrderRequest]:
    """The legs the SL/TP monitor asks for after an entry's fill, ``position`` being
    the position the fill left (the live monitor and the what-if replay both decide
    with this).

    None unless :func:`may_protect`, the strategy attaches legs or the alert named its
    own; none for an Alpaca bracket entry (its legs are at the broker already); none
    when the fill left the account flat or on the other side (legs protect the
    entry's own side only). A broker with native OCO orders for the symbol (Alpaca's
    whole-share equities) gets both prices in one order.
    """
    if not may_protect(request, fill) or not (strategy.attach_sl_tp or alert_legs(request)) \
            or bracket_at_broker(request, broker):
        return []
    if position == 0 or (position > 0) != (request.side == "buy"):
        return []
    one_order = _capabilities(broker).native_legs(classify_symbol(fill.symbol), abs(position))
    return protective_legs(request, fill, strategy, one_order, position)


def leg_prices(long: bool, base: Decimal, strategy: Strategy,
               alert_sl: Decimal | None, alert_tp: Decimal | None
               ) -> tuple[Decimal | None, Decimal | None]:
    """``(stop_loss, take_profit)`` for a position: the alert's own prices win, else
    (when the strategy attaches legs) ``sl_pct`` / ``tp_pct`` away from ``base``,
    rounded to the tick size."""
    def away(pct: Decimal | None, up: bool) -> Decimal | None:
        if pct is None:
            return None
        factor = 1 + pct / HUNDRED if up else 1 - pct / HUNDRED
        return _to_tick(base * factor, strategy.tick_size)

    own = strategy.attach_sl_tp  # the strategy's percentages apply only when it attaches
    sl = alert_sl if alert_sl is not None else away(strategy.sl_pct if own else None,
                                                    up=not long)
    tp = alert_tp if alert_tp is not None else away(strategy.tp_pct if own else None, up=long)
    return sl, tp


def _to_tick(price: Decimal, tick: Decimal) -> Decimal:
    if tick <= 0:
        return price
    return (price / tick).to_integral_value(rounding=ROUND_HALF_UP) * tick


def protective_legs(entry: OrderRequest, fill: Fill, strategy: Strategy,
                    one_order: bool = False,
                    position: Decimal | None = None) -> list[OrderRequest]:
    """The OCO legs protecting the position an entry left (none when flat).

    Legs carry the entry's client order id with ``-sl`` / ``-tp`` and share it as
    their OCO group; they cover the whole position, GTC. With ``one_order`` (brokers
    with native OCO orders, like Alpaca) a stop-loss and a take-profit become one
    ``-tp`` order carrying both prices. ``position`` is the broker's position after
    the fill, when the fill itself does not say (Alpaca fills do not).
    """
    if position is None:
        position = fill.position_quantity
    if position == 0:
        return []
    long = position > 0
    base = fill.average_price
    if not strategy.use_avg_fill_for_sl_tp and entry.reference_price:
        base = entry.reference_price
    sl, tp = leg_prices(long, base, strategy, entry.stop_loss_price, entry.take_profit_price)
    side: Side = "sell" if long else "buy"
    if one_order and sl is not None and tp is not None and sl > 0 and tp > 0:
        return [OrderRequest(
            client_order_id=f"{entry.client_order_id}-tp", symbol=fill.symbol, side=side,
            quantity=abs(position), intent="close", order_type="limit", limit_price=tp,
            take_profit_price=tp, stop_loss_price=sl, time_in_force="gtc", leg="tp",
            oco_group=entry.client_order_id)]
    legs: list[OrderRequest] = []
    if sl is not None and sl > 0:
        legs.append(OrderRequest(
            client_order_id=f"{entry.client_order_id}-sl", symbol=fill.symbol, side=side,
            quantity=abs(position), intent="close", order_type="stop", stop_price=sl,
            time_in_force="gtc", leg="sl", oco_group=entry.client_order_id,
            trail_pct=strategy.trailing_stop_pct if strategy.attach_sl_tp else None))
    if tp is not None and tp > 0:
        legs.append(OrderRequest(
            client_order_id=f"{entry.client_order_id}-tp", symbol=fill.symbol, side=side,
            quantity=abs(position), intent="close", order_type="limit", limit_price=tp,
            time_in_force="gtc", leg="tp", oco_group=entry.client_order_id))
    return legs
