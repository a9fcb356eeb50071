"""Validator: ``webhook.received`` → ``webhook.validated`` or ``webhook.failed``."""

from __future__ import annotations

import msgspec

from contracts import streams
from contracts.dialects import AlertError
from contracts.events import WebhookReceived, WebhookValidated
from libs.registry.store import Registry
from libs.runtime.clock import Clock
from libs.runtime.consumer import Outgoing
from libs.runtime.dispatch import HandlerTable
from libs.runtime.failures import failure
from libs.runtime.ids import derived_event_id
from services.validator.rules import (
    Refusal,
    build_signal,
    check_alert_targets,
    check_broker_rules,
    check_route,
)


class Validator:
    """Turns received alerts into validated signals."""

    def __init__(self, registry: Registry, clock: Clock) -> None:
        self.registry = registry
        self.clock = clock
        # What the validator consumes (streams.VALIDATOR).
        self.handle = HandlerTable({WebhookReceived: self.validate})

    async def validate(self, event: WebhookReceived) -> list[Outgoing]:
        """Route and parse a received alert: a validated signal, or why not."""
        strategy = await self.registry.strategy(event.strategy_id)
        account = await self.registry.account(event.account_id)
        tenant = await self.registry.tenant(event.tenant_id)
        refusal = check_route(strategy, account, event.tenant_id, tenant)
        if refusal is None and account is not None:
            try:
                alert = event.parsed()
            except AlertError as exc:
                refusal = Refusal("invalid_alert", exc.message)
            else:
                assert strategy is not None  # check_route passed
                built = build_signal(alert, account.broker, strategy.symbol)
                if isinstance(built, Refusal):
                    refusal = built
                elif (mismatch := check_alert_targets(alert, account, strategy)) is not None:
                    refusal = mismatch
                else:
                    refusal = check_broker_rules(
                        built, account.broker, strategy.order_type_for(built.order_type),
                        account, strategy)
                    if refusal is None:
                        validated = WebhookValidated(
                            event_id=derived_event_id(event.signal_id, "validated"),
                            signal_id=event.signal_id, tenant_id=event.tenant_id,
                            occurred_at=self.clock.now(), strategy_id=event.strategy_id,
                            account_id=event.account_id, signal=built,
                            dry_run=event.dry_run,
                        )
                        return [Outgoing(validated,
                                         streams.message_id(event.signal_id, "validated"))]
        assert refusal is not None
        refused = failure(event, "validate", refusal.code, refusal.reason, self.clock)
        if event.dry_run:
            return [Outgoing(msgspec.structs.replace(refused.event, dry_run=True),
                             refused.msg_id)]
        return [refused]
