"""SL/TP monitor: follows fills. Protective legs and the breaker come later."""

from __future__ import annotations

import logging

from contracts.events import AnyEvent, TradeExecuted
from services.runtime.consumer import Outgoing

log = logging.getLogger(__name__)


class SlTpMonitor:
    """Watches executed trades; today it only records that it saw them."""

    def __init__(self) -> None:
        self.fills_seen = 0

    async def handle(self, event: AnyEvent) -> list[Outgoing]:
        """Dispatch one consumed event."""
        if isinstance(event, TradeExecuted):
            self.fills_seen += 1
            log.info("fill %s %s %s @ %s (no protective legs configured)",
                     event.fill.client_order_id, event.fill.side, event.fill.quantity,
                     event.fill.average_price)
        return []
