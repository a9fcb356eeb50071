"""With partitions, the breaker loop checks only the accounts this instance owns."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from factories import make_account

from libs.registry.models import Account, BreakerConfig
from services.sltp_monitor.breaker_loop import BreakerLoop

BREAKER = BreakerConfig(base_equity=Decimal(100_000), global_sl_pct=Decimal(90))


class _Registry:
    def __init__(self, accounts: list[Account]) -> None:
        self._accounts = accounts

    async def accounts(self) -> list[Account]:
        return self._accounts


class _Recording(BreakerLoop):
    checked: list[str]

    async def check(self, account: Account) -> None:  # type: ignore[override]
        self.checked.append(account.id)


async def test_only_owned_accounts_are_checked() -> None:
    accounts = [make_account(id=f"acc-{n}", breaker=BREAKER) for n in range(4)]
    loop = _Recording(cast(Any, None), cast(Any, _Registry(accounts)), cast(Any, None),
                      cast(Any, None), cast(Any, None),
                      owns=lambda account: account.id in {"acc-1", "acc-3"})
    loop.checked = []
    await loop.check_all()
    assert loop.checked == ["acc-1", "acc-3"]

    everyone = _Recording(cast(Any, None), cast(Any, _Registry(accounts)), cast(Any, None),
                          cast(Any, None), cast(Any, None))
    everyone.checked = []
    await everyone.check_all()
    assert everyone.checked == [a.id for a in accounts]
