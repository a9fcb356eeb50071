"""Executor: ``order.requested`` → broker → ``webhook.trade_executed`` / ``webhook.failed``."""

from __future__ import annotations

from contracts import streams
from contracts.events import AnyEvent, OrderRequested, TradeExecuted
from services.brokers.base import Broker, BrokerRejected
from services.registry.store import Registry
from services.runtime.clock import Clock
from services.runtime.consumer import Outgoing
from services.runtime.failures import failure
from services.runtime.ids import derived_event_id


class Executor:
    """Places orders with the account's broker, at most once per client order id."""

    def __init__(self, registry: Registry, brokers: dict[str, Broker], clock: Clock) -> None:
        self.registry = registry
        self.brokers = brokers
        self.clock = clock

    async def handle(self, event: AnyEvent) -> list[Outgoing]:
        """Dispatch one consumed event."""
        if not isinstance(event, OrderRequested):
            return []
        account = await self.registry.account(event.account_id)
        if account is None:
            return [failure(event, "execute", "unknown_account",
                            "the account was removed before the order was placed", self.clock)]
        broker = self.brokers.get(account.broker)
        if broker is None:
            return [failure(event, "execute", "unknown_broker",
                            f"no adapter for broker {account.broker!r}", self.clock)]
        try:
            # submit() itself returns the earlier fill for a known client order id,
            # so a redelivered request never trades twice.
            fill = await broker.submit(account, event.order)
        except BrokerRejected as exc:
            return [failure(event, "execute", exc.code, exc.reason, self.clock,
                            {"client_order_id": event.order.client_order_id})]
        executed = TradeExecuted(
            event_id=derived_event_id(event.signal_id, "executed"), signal_id=event.signal_id,
            tenant_id=event.tenant_id, occurred_at=self.clock.now(),
            strategy_id=event.strategy_id, account_id=event.account_id, broker=broker.name,
            fill=fill,
        )
        return [Outgoing(executed, streams.message_id(event.signal_id, "executed"))]
