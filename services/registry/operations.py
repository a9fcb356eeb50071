"""Operator actions on accounts, shared by the HTTP API and the CLI."""

from __future__ import annotations

from contracts import streams
from contracts.events import AccountResumed
from services.registry.models import Account
from services.registry.store import Registry
from services.runtime.bus import Bus
from services.runtime.clock import Clock, new_id


async def resume_account(bus: Bus, registry: Registry, account_id: str, clock: Clock,
                         by: str = "operator") -> Account | None:
    """Clear the pause of an account (None if unknown) and publish ``account.resumed``.

    The breaker stays armed as it was: a kind that tripped does not trip again until
    its configuration is edited.
    """
    account = await registry.account(account_id)
    if account is None:
        return None
    resumed = account.model_copy(update={"paused": False, "paused_reason": ""})
    await registry.put(resumed)
    correlation = f"resume:{account_id}:{new_id()}"
    event = AccountResumed(event_id=new_id(), signal_id=correlation,
                           tenant_id=account.tenant_id, occurred_at=clock.now(),
                           account_id=account_id, by=by)
    await bus.publish_event(event, streams.message_id(correlation, "resumed"))
    return resumed
