"""Risk: ``webhook.validated`` → ``order.requested`` or ``webhook.failed``."""

from __future__ import annotations

from contracts import streams
from contracts.events import AnyEvent, OrderRequested, WebhookValidated
from services.brokers.base import BrokerRejected
from services.brokers.factory import Brokers
from services.registry.store import Registry
from services.risk.rules import RiskRefusal, client_order_id, decide_order
from services.runtime.clock import Clock
from services.runtime.consumer import Outgoing
from services.runtime.failures import failure
from services.runtime.ids import derived_event_id


class RiskService:
    """Sizes validated signals against the account and applies the limits."""

    def __init__(self, registry: Registry, brokers: Brokers, clock: Clock) -> None:
        self.registry = registry
        self.brokers = brokers
        self.clock = clock

    async def handle(self, event: AnyEvent) -> list[Outgoing]:
        """Dispatch one consumed event."""
        if not isinstance(event, WebhookValidated):
            return []
        strategy = await self.registry.strategy(event.strategy_id)
        account = await self.registry.account(event.account_id)
        if strategy is None or account is None:
            return [failure(event, "risk", "unknown_route",
                            "strategy or account was removed", self.clock)]
        if not strategy.enabled:
            return [failure(event, "risk", "strategy_paused",
                            f"strategy {strategy.name} is paused", self.clock)]
        try:
            snapshot = await self.brokers.for_account(account).snapshot(account)
        except BrokerRejected as exc:
            return [failure(event, "risk", exc.code, exc.reason, self.clock)]
        received_at = event.signal.alert_time or event.occurred_at
        coid = client_order_id(strategy, event.signal_id, received_at)
        decision = decide_order(event.signal, strategy, snapshot, coid)
        if isinstance(decision, RiskRefusal):
            return [failure(event, "risk", decision.code, decision.reason, self.clock,
                            decision.details)]
        requested = OrderRequested(
            event_id=derived_event_id(event.signal_id, "order"), signal_id=event.signal_id,
            tenant_id=event.tenant_id, occurred_at=self.clock.now(),
            strategy_id=event.strategy_id, account_id=event.account_id, order=decision,
        )
        return [Outgoing(requested, streams.message_id(event.signal_id, "order"))]
