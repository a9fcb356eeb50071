"""SL/TP monitor: decides the protective legs of an entry once it filled.

Consumes ``webhook.trade_executed``; publishes ``order.requested`` for the legs,
which the executor places (the monitor never writes to a broker). Legs are placed
when the strategy attaches them (``attach_sl_tp``) or the alert named its own
``stopLoss`` / ``takeProfit``. What happens to legs when the position changes
afterwards — exits, flips, partial exits, fills of other strategies — is the
executor's (and the paper broker's) job, by the rule in ``domain/protection.py``.
"""

from __future__ import annotations

import logging

from contracts import streams
from contracts.events import OrderRequested, TradeExecuted
from libs.brokers.factory import Brokers
from libs.registry.store import Registry
from libs.runtime.clock import Clock
from libs.runtime.consumer import Outgoing
from libs.runtime.dispatch import HandlerTable
from libs.runtime.ids import derived_event_id
from services.sltp_monitor.legs import protective_legs

log = logging.getLogger(__name__)
EXITS = ("exit_long", "exit_short", "close", "close_all", "cancel_all")


class SlTpMonitor:
    """Follows fills and asks for each new entry's protective legs."""

    def __init__(self, registry: Registry, brokers: Brokers, clock: Clock) -> None:
        self.registry = registry
        self.brokers = brokers
        self.clock = clock
        # What the monitor consumes (streams.SLTP_MONITOR).
        self.handle = HandlerTable({TradeExecuted: self.on_fill})

    async def on_fill(self, event: TradeExecuted) -> list[Outgoing]:
        """The legs an entry's fill calls for, as order requests for the executor."""
        request = event.request
        if request is None or event.fill is None or request.leg or \
                request.intent in EXITS or request.close_position or request.reduce_only:
            return []
        alert_legs = request.stop_loss_price is not None or \
            request.take_profit_price is not None
        strategy = await self.registry.strategy(event.strategy_id)
        account = await self.registry.account(event.account_id)
        if account is None or strategy is None or not (strategy.attach_sl_tp or alert_legs):
            return []
        bracket = request.stop_loss_price is not None and request.take_profit_price is not None
        if account.broker == "alpaca" and bracket:
            return []  # the entry went to Alpaca as a bracket: its legs are there already
        symbol = event.fill.symbol
        # The position this fill left, so the decision is the same whenever the fill
        # is handled (a redelivery, a monitor behind the executor); brokers whose
        # fills do not say (Alpaca) are read. Legs protect the entry's own side only.
        reader = self.brokers.reader_for(account)
        position = event.fill.position_quantity if reader.fills_report_position else \
            (await reader.snapshot(account)).position(symbol)
        if position == 0 or (position > 0) != (request.side == "buy"):
            return []
        out = []
        one_order = account.broker == "alpaca"  # native OCO: both legs in one order
        for leg in protective_legs(request, event.fill, strategy, one_order, position):
            stage = f"order-leg-{leg.leg}"
            placed = OrderRequested(
                event_id=derived_event_id(event.signal_id, stage), signal_id=event.signal_id,
                tenant_id=event.tenant_id, occurred_at=self.clock.now(),
                strategy_id=event.strategy_id, account_id=event.account_id, order=leg)
            out.append(Outgoing(placed, streams.message_id(event.signal_id, stage)))
        return out
