"""Tenants, accounts and strategies as configured by operators (pydantic: config)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SizingMode = Literal["percent_equity", "alert_contracts", "fixed_quantity", "notional"]


class Tenant(BaseModel):
    """An organisation whose accounts and strategies are isolated from others."""

    model_config = ConfigDict(frozen=True)
    id: str
    name: str


class Account(BaseModel):
    """A broker account that strategies trade on."""

    model_config = ConfigDict(frozen=True)
    id: str
    tenant_id: str
    name: str
    broker: Literal["paper"] = "paper"
    currency: str = "USD"
    starting_cash: Decimal = Decimal(100_000)
    slippage_bps: Decimal | None = None
    fee_bps: Decimal | None = None
    active: bool = True


class Strategy(BaseModel):
    """A signal source (bot / TradingView strategy) bound to one account."""

    model_config = ConfigDict(frozen=True)
    id: str
    tenant_id: str
    account_id: str
    name: str
    slug: str
    # The secret is kept only in the registry bucket; never in events or logs.
    secret: str = Field(repr=False)
    enabled: bool = True
    sizing_mode: SizingMode = "percent_equity"
    percent_of_equity: Decimal = Decimal(2)
    fixed_quantity: Decimal | None = None
    notional: Decimal | None = None
    max_order_notional: Decimal | None = Decimal(50_000)
    max_order_quantity: Decimal | None = None
    quantity_step: Decimal = Decimal("0.0001")


_SLUG_BREAK = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    """URL slug from a strategy name: lower case, dashes between words."""
    return _SLUG_BREAK.sub("-", name.lower()).strip("-") or "strategy"
