"""Small builders of real domain objects for tests; override any field by keyword."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec.inspect as mi

from contracts.events import (
    AccountOpened,
    OrderRequested,
    StrategyRegistered,
    TenantCreated,
    TradeExecuted,
    WebhookFailed,
    WebhookReceived,
    WebhookValidated,
)
from contracts.orders import BrokerOrder, Fill, OrderRequest
from contracts.signals import Signal
from libs.brokers.base import AccountSnapshot
from libs.registry.models import Account, Strategy, Tenant

# A fixed instant; tests never read the wall clock.
NOW = datetime(2024, 5, 1, 14, 30, tzinfo=UTC)
SIGNAL_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
TENANT_ID = "acme"
ACCOUNT_ID = "acc-1"
STRATEGY_ID = "strat-1"
SECRET = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0"


class ManualClock:
    """Time that moves only when the test moves it: fixed at ``start`` until
    :meth:`advance`, or on by ``tick_s`` at every reading (a clock that ticks)."""

    def __init__(self, start: datetime = NOW, tick_s: float = 0.0) -> None:
        self.current = start
        self.tick = timedelta(seconds=tick_s)

    def now(self) -> datetime:
        """The current test time (first moved on by the tick, if any)."""
        self.current += self.tick
        return self.current

    def advance(self, seconds: float) -> None:
        """Move the time on by ``seconds``."""
        self.current += timedelta(seconds=seconds)

    def seconds(self) -> float:
        """The current test time as Unix seconds (for code that takes a float clock)."""
        return self.current.timestamp()


def make_strategy(**overrides: Any) -> Strategy:
    """An enabled percent-of-equity strategy of tenant ``acme`` on ``acc-1``."""
    fields: dict[str, Any] = {
        "id": STRATEGY_ID,
        "tenant_id": TENANT_ID,
        "account_id": ACCOUNT_ID,
        "name": "Gold Breakout",
        "slug": "gold-breakout",
        "secret": SECRET,
        "sizing_mode": "percent_equity",
    }
    return Strategy(**{**fields, **overrides})


def make_account(**overrides: Any) -> Account:
    """An active paper account of tenant ``acme`` with 100 000 USD."""
    fields: dict[str, Any] = {"id": ACCOUNT_ID, "tenant_id": TENANT_ID, "name": "Main"}
    return Account(**{**fields, **overrides})


@dataclass
class OneAccount:
    """The registry of one account and one strategy, and (for code that only sizes
    against it) a broker of that account holding ``positions`` at ``prices``."""

    strategy_: Strategy = field(default_factory=lambda: make_strategy())
    account_: Account = field(default_factory=lambda: make_account())
    positions: dict[str, Decimal] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)

    async def tenant(self, tenant_id: str) -> Tenant | None:
        return None

    async def account(self, account_id: str) -> Account | None:
        return self.account_ if account_id == self.account_.id else None

    async def strategy(self, strategy_id: str) -> Strategy | None:
        return self.strategy_ if strategy_id == self.strategy_.id else None

    def for_account(self, account: Account) -> OneAccount:
        return self

    def reader_for(self, account: Account) -> OneAccount:
        return self

    async def market_price(self, symbol: str) -> Decimal | None:
        return self.prices.get(symbol)

    async def snapshot(self, account: Account) -> AccountSnapshot:
        return make_snapshot(positions=dict(self.positions), last_prices=dict(self.prices))


def make_signal(**overrides: Any) -> Signal:
    """A long entry in AAPL at 150 from an exchange-style alert."""
    fields: dict[str, Any] = {
        "dialect": "exchange",
        "symbol": "AAPL",
        "asset_class": "equity",
        "intent": "enter_long",
        "price": Decimal(150),
    }
    return Signal(**{**fields, **overrides})


def make_snapshot(**overrides: Any) -> AccountSnapshot:
    """A flat account with 100 000 cash and equity and no known prices."""
    fields: dict[str, Any] = {
        "cash": Decimal(100_000),
        "equity": Decimal(100_000),
        "positions": {},
        "last_prices": {},
    }
    return AccountSnapshot(**{**fields, **overrides})


def make_order(**overrides: Any) -> OrderRequest:
    """A market buy of 10 AAPL referenced at 100."""
    fields: dict[str, Any] = {
        "client_order_id": "gold-breakout-1714573800-0f1e2d3c",
        "symbol": "AAPL",
        "side": "buy",
        "quantity": Decimal(10),
        "intent": "enter_long",
        "reference_price": Decimal(100),
    }
    return OrderRequest(**{**fields, **overrides})


def make_broker_order(**overrides: Any) -> BrokerOrder:
    """A resting limit buy of 10 AAPL at 95, placed at :data:`NOW`."""
    fields: dict[str, Any] = {
        "order_id": "ord-1",
        "client_order_id": "gold-breakout-1714573800-0f1e2d3c",
        "symbol": "AAPL",
        "side": "buy",
        "quantity": Decimal(10),
        "order_type": "limit",
        "status": "open",
        "submitted_at": NOW,
        "limit_price": Decimal(95),
    }
    return BrokerOrder(**{**fields, **overrides})


def make_fill(**overrides: Any) -> Fill:
    """A fill of 10 AAPL bought at 100 without fee."""
    fields: dict[str, Any] = {
        "order_id": "ord-1",
        "client_order_id": "gold-breakout-1714573800-0f1e2d3c",
        "symbol": "AAPL",
        "side": "buy",
        "quantity": Decimal(10),
        "average_price": Decimal(100),
        "filled_at": NOW,
    }
    return Fill(**{**fields, **overrides})


def _base(overrides: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_id": "evt-1",
        "signal_id": SIGNAL_ID,
        "tenant_id": TENANT_ID,
        "occurred_at": NOW,
    }
    return {**fields, **overrides}


def make_received(**overrides: Any) -> WebhookReceived:
    """``webhook.received`` for an exchange-style alert."""
    return WebhookReceived(**_base({
        "strategy_id": STRATEGY_ID,
        "account_id": ACCOUNT_ID,
        "dialect": "exchange",
        "payload": {"alertId": "a-1", "action": "buy", "symbol": "AAPL", "price": 150.5},
        "content_type": "application/json",
        "auth_mode": "token",
        "source_ip": "203.0.113.7",
        **overrides,
    }))


def make_validated(**overrides: Any) -> WebhookValidated:
    """``webhook.validated`` carrying :func:`make_signal`."""
    return WebhookValidated(**_base({
        "strategy_id": STRATEGY_ID, "account_id": ACCOUNT_ID, "signal": make_signal(),
        **overrides,
    }))


def make_order_requested(**overrides: Any) -> OrderRequested:
    """``order.requested`` carrying :func:`make_order`."""
    return OrderRequested(**_base({
        "strategy_id": STRATEGY_ID, "account_id": ACCOUNT_ID, "order": make_order(),
        **overrides,
    }))


def make_trade_executed(**overrides: Any) -> TradeExecuted:
    """``webhook.trade_executed`` carrying :func:`make_fill` on the paper broker."""
    return TradeExecuted(**_base({
        "strategy_id": STRATEGY_ID, "account_id": ACCOUNT_ID, "broker": "paper",
        "fill": make_fill(), **overrides,
    }))


def make_failed(**overrides: Any) -> WebhookFailed:
    """``webhook.failed`` at the risk stage."""
    return WebhookFailed(**_base({
        "strategy_id": STRATEGY_ID, "account_id": ACCOUNT_ID, "stage": "risk",
        "code": "max_order_notional", "reason": "too big",
        "details": {"rule": "max_order_notional", "limit": "50000", "value": "60000.00"},
        **overrides,
    }))


def make_tenant_created(**overrides: Any) -> TenantCreated:
    """``registry.tenant_created``."""
    return TenantCreated(**_base({"signal_id": "", "name": "Acme", **overrides}))


def make_account_opened(**overrides: Any) -> AccountOpened:
    """``registry.account_opened`` with 100 000 USD."""
    return AccountOpened(**_base({
        "signal_id": "", "account_id": ACCOUNT_ID, "name": "Main", "broker": "paper",
        "currency": "USD", "starting_cash": Decimal(100_000), **overrides,
    }))


def make_strategy_registered(**overrides: Any) -> StrategyRegistered:
    """``registry.strategy_registered`` (fingerprint only, never the secret)."""
    return StrategyRegistered(**_base({
        "signal_id": "", "strategy_id": STRATEGY_ID, "account_id": ACCOUNT_ID,
        "name": "Gold Breakout", "slug": "gold-breakout", "secret_fingerprint": "abcdef012345",
        **overrides,
    }))


def sample_of(struct: type[Any]) -> Any:
    """An instance of a msgspec Struct (an event, an order...) with every field set,
    defaults included, to a value of its type that is not the default: new event
    types and fields are covered without anyone writing a factory first."""
    return _sample(mi.type_info(struct), struct.__name__)


def _sample(info: mi.Type, name: str) -> Any:
    if isinstance(info, mi.StructType):
        return info.cls(**{f.name: _sample(f.type, f.name) for f in info.fields})
    if isinstance(info, mi.UnionType):
        return _sample(next(t for t in info.types if not isinstance(t, mi.NoneType)), name)
    if isinstance(info, mi.LiteralType):
        return info.values[-1]
    if isinstance(info, mi.StrType):
        return f"{name}-1"
    if isinstance(info, mi.BoolType):
        return True
    if isinstance(info, mi.IntType):
        return 7
    if isinstance(info, mi.FloatType):
        return 0.75
    if isinstance(info, mi.DecimalType):
        return Decimal("12.345")
    if isinstance(info, mi.DateTimeType):
        return NOW
    if isinstance(info, mi.ListType):
        return [_sample(info.item_type, name)]
    if isinstance(info, mi.DictType):
        if isinstance(info.value_type, mi.AnyType):
            return {"desk": "ny", "n": [1, 2], "price": "1.5"}
        return {f"{name}-key": _sample(info.value_type, name)}
    if isinstance(info, mi.AnyType):
        return {"any": [1, "two"]}
    raise TypeError(f"no sample for {name}: {info}")
