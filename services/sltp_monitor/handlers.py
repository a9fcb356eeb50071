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
from libs.brokers.capabilities import capabilities_for
from libs.brokers.factory import Brokers
from libs.registry.store import Registry
from libs.runtime.clock import Clock
from libs.runtime.consumer import Outgoing
from libs.runtime.dispatch import HandlerTable
from libs.runtime.ids import derived_event_id
from services.sltp_monitor.legs import (
    alert_legs,
    bracket_at_broker,
    legs_for_fill,
    may_protect,
)

log = logging.getLogger(__name__)


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
        request, fill = event.request, event.fill
        if request is None or fill is None or not may_protect(request, fill):
            return []
        strategy = await self.registry.strategy(event.strategy_id)
        account = await self.registry.account(event.account_id)
        if account is None or strategy is None \
                or bracket_at_broker(request, capabilities_for(account)) \
                or not (strategy.attach_sl_tp or alert_legs(request)):
            return []
        # The position this fill left, so the decision is the same whenever the fill
        # is handled (a redelivery, a monitor behind the executor); brokers whose
        # fills do not say (Alpaca) are read.
        reader = self.brokers.reader_for(account)
        position = fill.position_quantity if reader.fills_report_position else \
            (await reader.snapshot(account)).position(fill.symbol)
        out = []
        for leg in legs_for_fill(request, fill, strategy, capabilities_for(account), position):
            stage = f"order-leg-{leg.leg}"
            placed = OrderRequested(
                event_id=derived_event_id(event.signal_id, stage), signal_id=event.signal_id,
                tenant_id=event.tenant_id, occurred_at=self.clock.now(),
                strategy_id=event.strategy_id, account_id=event.account_id, order=leg)
            out.append(Outgoing(placed, streams.message_id(event.signal_id, stage)))
        return out
