"""Pure decisions of the portfolio circuit breaker.

Every check compares equity with ``global_sl_pct`` percent of ``base_equity``
(stop-loss) and ``global_tp_pct`` percent of it (take-profit): ``80`` is 80 %. Each
kind trips once per armed configuration: editing the configuration re-arms both (the
thresholds reset).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Literal

import msgspec

from contracts.orders import OrderRequest
from contracts.subjects import token
from libs.registry.models import BreakerConfig

Kind = Literal["sl", "tp"]
HUNDRED = Decimal(100)


class BreakerState(msgspec.Struct, kw_only=True):
    """What has tripped since the configuration with ``fingerprint`` was armed."""

    fingerprint: str = ""
    tripped: list[str] = []


def fingerprint(config: BreakerConfig) -> str:
    """Identifies one version of the configuration."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]


def threshold(config: BreakerConfig, kind: Kind) -> Decimal | None:
    """The equity level at which ``kind`` trips (None when not configured)."""
    percent = config.global_sl_pct if kind == "sl" else config.global_tp_pct
    return None if percent is None else config.base_equity * percent / HUNDRED


def decide(config: BreakerConfig, state: BreakerState,
           equity: Decimal) -> tuple[Kind | None, BreakerState]:
    """Which kind trips now (if any) and the state to keep afterwards."""
    current = fingerprint(config)
    if state.fingerprint != current:
        state = BreakerState(fingerprint=current)  # edited: thresholds reset
    if not config.active:
        return None, state
    sl, tp = threshold(config, "sl"), threshold(config, "tp")
    kind: Kind | None = None
    if sl is not None and equity <= sl:
        kind = "sl"
    elif tp is not None and equity >= tp:
        kind = "tp"
    if kind is None or kind in state.tripped:
        return None, state
    return kind, BreakerState(fingerprint=current, tripped=[*state.tripped, kind])


def trip_id(account_id: str, kind: Kind, now: datetime) -> str:
    """The correlation id of one trip (its events and its liquidation orders)."""
    return f"breaker:{account_id}:{kind}:{int(now.timestamp())}"


def liquidation(account_id: str, symbol: str, quantity: Decimal, now: datetime) -> OrderRequest:
    """The market order that closes the position ``quantity`` in ``symbol`` on a trip."""
    coid = f"brk-{int(now.timestamp())}-{token(symbol)}-{account_id}"[:48]
    return OrderRequest(client_order_id=coid, symbol=symbol,
                        side="sell" if quantity > 0 else "buy", quantity=abs(quantity),
                        intent="close", close_position=True)
