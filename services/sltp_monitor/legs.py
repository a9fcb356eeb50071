"""Pure decisions for protective legs: where the stop-loss and take-profit go."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from contracts.orders import Fill, OrderRequest, Side
from libs.registry.models import Strategy

HUNDRED = Decimal(100)


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
