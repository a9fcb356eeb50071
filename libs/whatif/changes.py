"""The settings a what-if changes, checked by name before anything is replayed.

``FIELD=VALUE`` changes a strategy setting (sizing, limits, SL/TP, trailing, order
type, ...); ``breaker.FIELD=VALUE`` the account's portfolio breaker (one is made when
the account has none: ``base_equity`` defaults to its starting cash);
``account.slippage_bps`` / ``account.fee_bps`` the paper broker's costs. A name that
is not a setting is refused, never ignored: a typo must not look like "no change".
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from libs.registry.models import Account, BreakerConfig, Strategy
from libs.registry.upcast import upcast_record

# Who a strategy or account is, not how it trades: not a what-if question.
_IDENTITY = frozenset({"id", "tenant_id", "account_id", "name", "slug", "secret",
                       "previous_secret", "previous_valid_until", "jwt_public_key",
                       "ip_allowlist", "rate_limits", "suspended"})
ACCOUNT_FIELDS = frozenset({"slippage_bps", "fee_bps"})
STRATEGY_FIELDS = frozenset(Strategy.model_fields) - _IDENTITY
BREAKER_FIELDS = frozenset(BreakerConfig.model_fields) - {"units"}


@dataclass(frozen=True)
class Changes:
    """What a what-if changes, by record."""

    strategy: dict[str, Any] = field(default_factory=dict)
    breaker: dict[str, Any] = field(default_factory=dict)
    account: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, changes: Mapping[str, Any]) -> Changes:
        """Sort ``changes`` by record; ValueError naming a field that is no setting."""
        out = cls()
        for name, value in changes.items():
            prefix, _, rest = name.partition(".")
            if rest and prefix == "breaker" and rest in BREAKER_FIELDS:
                out.breaker[rest] = value
            elif rest and prefix == "account" and rest in ACCOUNT_FIELDS:
                out.account[rest] = value
            elif not rest and name in STRATEGY_FIELDS:
                out.strategy[name] = value
            else:
                raise ValueError(
                    f"{name!r} is not a setting a what-if can change: a strategy field "
                    f"({', '.join(sorted(STRATEGY_FIELDS)[:6])}, ...), breaker.FIELD "
                    f"({', '.join(sorted(BREAKER_FIELDS))}) or account.FIELD "
                    f"({', '.join(sorted(ACCOUNT_FIELDS))})")
        return out

    def __bool__(self) -> bool:
        return bool(self.strategy or self.breaker or self.account)

    def as_dict(self) -> dict[str, Any]:
        """The changes as given (``breaker.`` / ``account.`` prefixed)."""
        return {**self.strategy, **{f"breaker.{k}": v for k, v in self.breaker.items()},
                **{f"account.{k}": v for k, v in self.account.items()}}

    def strategy_of(self, record: Mapping[str, Any]) -> Strategy:
        """The strategy a registry record describes, changed (pydantic checks ranges)."""
        return Strategy.model_validate({**record, **self.strategy})

    def account_of(self, record: Mapping[str, Any]) -> Account:
        """The account a registry record describes (old breaker fractions read as
        the registry reads them), changed."""
        data, _ = upcast_record("account", copy.deepcopy(dict(record)))
        data.update(self.account)
        if self.breaker:
            base = data.get("breaker") or {"base_equity": data.get("starting_cash", 100_000)}
            data["breaker"] = {**base, **self.breaker}
        return Account.model_validate(data)
