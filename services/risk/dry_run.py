"""A dry run's decision: the order risk would request, or why it would refuse.

Decided like any signal — sizing against the broker's positions plus the orders
decided but not yet filled, the limits, today's counters — but read-only: nothing
is reserved, counted or remembered in the ledger, and no order is requested. The
signal ends here, in one ``webhook.trade_executed`` with ``dry_run`` set, the
would-be order as ``request`` and no fill (or in ``webhook.failed`` with
``dry_run`` set).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from contracts import streams
from contracts.events import TradeExecuted, WebhookValidated
from contracts.orders import OrderRequest
from libs.brokers.base import AccountSnapshot
from libs.brokers.capabilities import Capabilities
from libs.registry.models import Account, Strategy
from libs.runtime.clock import Clock
from libs.runtime.consumer import Outgoing
from libs.runtime.failures import failure
from libs.runtime.ids import derived_event_id
from services.risk.ledger import RiskLedger
from services.risk.limits import Exposure, check_limits, trading_day
from services.risk.rules import RiskRefusal, decide_order


def would_order(event: WebhookValidated, strategy: Strategy, snapshot: AccountSnapshot,
                ledger: RiskLedger, coid: str, clock: Clock,
                capabilities: Capabilities | None = None) -> OrderRequest | RiskRefusal:
    """What risk would decide for ``event`` now (``ledger`` is a copy: not saved)."""
    ledger.roll(trading_day(clock.now(), strategy.day_timezone), snapshot.equity)
    exposure = Exposure.of(snapshot, ledger)
    effective = msgspec.structs.replace(snapshot, positions=exposure.positions)
    order = decide_order(event.signal, strategy, effective, coid, capabilities)
    if isinstance(order, RiskRefusal):
        return order
    price = (event.signal.price or exposure.prices.get(order.symbol)
             or order.reference_price or Decimal(0))
    return check_limits(event.signal, order, strategy, exposure, ledger, price,
                        capabilities) or order


def dry_run_outcome(event: WebhookValidated, account: Account,
                    decided: OrderRequest | RiskRefusal, clock: Clock) -> Outgoing:
    """The dry run's terminal event."""
    if isinstance(decided, RiskRefusal):
        refused = failure(event, "risk", decided.code, decided.reason, clock, decided.details)
        return Outgoing(msgspec.structs.replace(refused.event, dry_run=True),
                        refused.msg_id)
    executed = TradeExecuted(
        event_id=derived_event_id(event.signal_id, "executed"), signal_id=event.signal_id,
        tenant_id=event.tenant_id, occurred_at=clock.now(), strategy_id=event.strategy_id,
        account_id=event.account_id, broker=account.broker, fill=None, request=decided,
        dry_run=True)
    return Outgoing(executed, streams.message_id(event.signal_id, "executed"))
