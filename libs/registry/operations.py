"""Operator actions on accounts, shared by the HTTP API and the CLI."""

from __future__ import annotations

from datetime import timedelta

from contracts import streams
from contracts.events import AccountResumed, StrategySecretRotated
from libs.registry.models import Account, Strategy
from libs.registry.secrets import fingerprint, rotated
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock, new_id


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
                           account_id=account_id, by=by,
                           record=registry.stored_form(resumed))
    await bus.publish_event(event, streams.message_id(correlation, "resumed"))
    return resumed


async def rotate_secret(bus: Bus, registry: Registry, strategy_id: str, overlap_s: float,
                        clock: Clock) -> Strategy | None:
    """Give a strategy a new secret; the current one keeps working for ``overlap_s``.

    Returns the updated strategy (its ``secret`` is the new one, to show once), or
    None when the strategy does not exist.
    """
    strategy = await registry.strategy(strategy_id)
    if strategy is None:
        return None
    now = clock.now()
    until = now + timedelta(seconds=overlap_s)
    fresh = rotated(strategy, strategy.secret, until)
    await registry.put(fresh)
    correlation = f"strategy:{strategy_id}"
    stage = f"rotated:{int(now.timestamp() * 1000)}"
    event = StrategySecretRotated(
        event_id=new_id(), signal_id=correlation, tenant_id=strategy.tenant_id,
        occurred_at=now, strategy_id=strategy_id, secret_fingerprint=fingerprint(fresh.secret),
        previous_fingerprint=fingerprint(strategy.secret), previous_valid_until=until,
        record=registry.stored_form(fresh))
    await bus.publish_event(event, streams.message_id(correlation, stage))
    return fresh
