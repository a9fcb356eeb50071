"""The one gate every stage asks: may this route trade right now?

Ingress asks it with what its cache knows (tenant and strategy: a webhook to a
disabled strategy is a 403 at once), the validator with the records it reads fresh
(tenant, strategy, account), and risk once more just before sizing (the account's
pause too: a pause lands between the stages). The codes and sentences are the same
wherever the gate is closed.
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.registry.models import Account, Strategy, Tenant


@dataclass(frozen=True)
class Closed:
    """Why the route may not trade: a failure code and a sentence for the trader."""

    code: str
    reason: str


def closed(tenant: Tenant | None = None, strategy: Strategy | None = None,
           account: Account | None = None, *, pause: bool = False) -> Closed | None:
    """The first switch that is off, or None. A record not given is not checked;
    ``pause`` checks the account's pause (the breaker's or an operator's) too."""
    if tenant is not None and not tenant.active:
        return Closed("tenant_disabled", f"tenant {tenant.name} is disabled")
    if strategy is not None and not strategy.enabled:
        return Closed("strategy_disabled", f"strategy {strategy.name} is disabled")
    if account is not None and not account.active:
        return Closed("account_inactive", f"account {account.name} is not active")
    if pause and account is not None and account.paused:
        return Closed("paused", f"account {account.name} is paused: "
                      f"{account.paused_reason}; an operator resumes it")
    return None
