"""Tenants, accounts and strategies as configured by operators (pydantic: config)."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts import identifiers
from contracts.events import CALLBACK_EVENT_TYPES
from contracts.identifiers import Shape
from libs.callbacks.addresses import url_problem
from libs.registry.units import (
    BaseEquity,
    BasisPoints,
    BreakerStopPercent,
    BreakerTakeProfitPercent,
    Cash,
    CountLimit,
    EquityPercent,
    Limit,
    LossPercent,
    Positive,
    StopPercent,
    TakeProfitPercent,
)

# ``auto``: the alert's quantity when it carries one, else ``percent_of_equity``.
SizingMode = Literal["auto", "percent_equity", "alert_contracts", "fixed_quantity", "notional"]


def _id(shape: Shape) -> object:
    """The pydantic constraints of an identifier shape (``contracts/identifiers.py``)."""
    return Field(min_length=1, max_length=shape.max_length, pattern=shape.pattern)


TenantId = Annotated[str, _id(identifiers.TENANT_ID)]
AccountId = Annotated[str, _id(identifiers.ACCOUNT_ID)]
StrategyId = Annotated[str, _id(identifiers.STRATEGY_ID)]
Slug = Annotated[str, _id(identifiers.SLUG)]
CallbackId = Annotated[str, _id(identifiers.CALLBACK_ID)]
Name = Annotated[str, Field(min_length=1, max_length=identifiers.NAME.max_length)]
# Requests per window: whole numbers, 0 = no limit; the bounds are far above any real
# sender (a minute's limit of 100,000 is already ~1,700 alerts a second).
_Rate = Annotated[int, Field(strict=True, ge=0)]


class RateLimits(BaseModel):
    """Requests accepted per window (None or 0: no limit for that window)."""

    model_config = ConfigDict(frozen=True)
    per_minute: Annotated[_Rate, Field(le=100_000)] | None = None
    per_hour: Annotated[_Rate, Field(le=6_000_000)] | None = None
    per_day: Annotated[_Rate, Field(le=144_000_000)] | None = None


# What a person can be told about (see docs/notifications.md).
NotifyTopic = Literal["fills", "failures", "breaker", "auth_failures", "daily_summary"]
NOTIFY_TOPICS: tuple[str, ...] = ("fills", "failures", "breaker", "auth_failures",
                                  "daily_summary")
ChannelName = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


SEALED_PREFIX = "enc:"  # a sealed secret (libs.registry.vault)
_BOT_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,200}")


class NotificationChannel(BaseModel):
    """Where a tenant's people are told about its events: a Telegram chat, a Discord or
    Slack incoming webhook, or e-mail over SMTP; sent by the notifier service.

    ``secret`` is the Telegram bot token, the Discord/Slack webhook URL (its path is
    the credential) or the SMTP password; sealed at rest, never shown by the API.
    """

    model_config = ConfigDict(frozen=True)
    name: ChannelName
    kind: Literal["telegram", "discord", "slack", "email"]
    topics: Annotated[list[NotifyTopic], Field(min_length=1)] = [
        "fills", "failures", "breaker", "auth_failures"]
    secret: str = Field(default="", repr=False, max_length=2048)
    chat_id: Annotated[str, Field(max_length=64)] = ""  # telegram
    # e-mail: recipients, sender and the SMTP server.
    to: Annotated[list[Annotated[str, Field(max_length=254)]], Field(max_length=20)] = []
    mail_from: Annotated[str, Field(max_length=254)] = ""
    smtp_host: Annotated[str, Field(max_length=253)] = ""
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    smtp_user: Annotated[str, Field(max_length=254)] = ""
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    # Events of one topic arriving within ``collapse_s`` of the first go out as one
    # message; then at most one message per topic every ``min_interval_s``.
    collapse_s: Annotated[float, Field(ge=0, le=3600)] = 10.0
    min_interval_s: Annotated[float, Field(ge=0, le=86_400)] = 60.0
    enabled: bool = True

    @field_validator("topics")
    @classmethod
    def _no_repeated_topics(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))

    def problem(self) -> str | None:
        """What this channel lacks to be sent to, or None."""
        if not self.secret:
            return f"a {self.kind} channel needs its secret (bot token, webhook URL " \
                   "or SMTP password)" if self.kind != "email" else None
        if self.kind == "telegram" and not self.chat_id:
            return "a telegram channel needs chat_id"
        if self.secret.startswith(SEALED_PREFIX):
            # The stored form (registry events carry it, what-if reads it): the secret
            # was judged when it was stored and cannot be read here.
            return None
        if self.kind == "telegram" and not _BOT_TOKEN.fullmatch(self.secret):
            # It becomes part of the Bot API path: nothing else may steer that path.
            return "a telegram secret is a bot token (digits, a colon, letters, digits, " \
                   "- and _)"
        if self.kind in ("discord", "slack"):
            return url_problem(self.secret)
        return None

    def check(self) -> NotificationChannel:
        """This channel, or ValueError naming what it lacks."""
        if self.kind == "email" and not (self.to and self.smtp_host and self.mail_from):
            raise ValueError("an email channel needs to, mail_from and smtp_host")
        problem = self.problem()
        if problem is not None:
            raise ValueError(f"notification channel {self.name}: {problem}")
        return self


class Tenant(BaseModel):
    """An organisation whose accounts and strategies are isolated from others."""

    model_config = ConfigDict(frozen=True)
    id: TenantId
    name: Name
    rate_limits: RateLimits | None = None
    # A disabled tenant's webhooks are refused and its queued signals fail.
    active: bool = True
    # Where its people are told about fills, failures, breaker trips, auth alerts.
    notifications: Annotated[list[NotificationChannel], Field(max_length=20)] = []

    @field_validator("notifications")
    @classmethod
    def _valid_channels(cls, channels: list[NotificationChannel]) -> list[NotificationChannel]:
        names = [channel.check().name for channel in channels]
        if len(set(names)) != len(names):
            raise ValueError("notification channel names repeat")
        return channels


class AlpacaConfig(BaseModel):
    """Credentials and endpoint of an Alpaca account."""

    model_config = ConfigDict(frozen=True)
    key_id: str
    secret_key: str = Field(repr=False)
    paper: bool = True
    # Base URL without /v2, for tests or a proxy (alpaca-py's url_override).
    url_override: str | None = None


ExchangeBroker = Literal["binance", "bybit", "okx", "orderly"]
EXCHANGE_BROKERS: frozenset[str] = frozenset({"binance", "bybit", "okx", "orderly"})


class ExchangeConfig(BaseModel):
    """Credentials and trading settings of a crypto exchange account (ccxt).

    ``market``: ``spot`` or ``perp`` (linear perpetuals, settled in the quote; the
    Orderly Network has perpetuals only). ``leverage`` and ``margin_mode`` are set on
    the venue for each perpetual before its first order. ``testnet`` trades on the
    venue's test network (Binance spot testnet / futures testnet, Bybit testnet, OKX
    demo trading, Orderly testnet). Orderly: ``api_key`` is the Orderly key
    (``ed25519:...``), ``secret`` its private key, ``account_id`` the Orderly account.
    """

    model_config = ConfigDict(frozen=True)
    api_key: str = Field(min_length=1, max_length=200)
    secret: str = Field(min_length=1, max_length=400, repr=False)
    # OKX's API passphrase.
    password: str = Field(default="", max_length=200, repr=False)
    # The Orderly Network account id (0x...).
    account_id: str = Field(default="", max_length=200)
    market: Literal["spot", "perp"] = "spot"
    leverage: int | None = Field(default=None, ge=1, le=125)
    margin_mode: Literal["cross", "isolated"] = "cross"
    testnet: bool = True
    # The origin (scheme://host:port) every API call goes to instead of the
    # venue's, for tests or a proxy; only a global admin may set it.
    url_override: str | None = None


class BreakerConfig(BaseModel):
    """Portfolio circuit breaker: equity against percents of ``base_equity``.

    ``units`` marks records written under the percent rule; stored breakers without
    it hold the old fractions (0.9 for 90 %) and are migrated when read
    (``libs/registry/migrations.py``), never taken as percents.
    """

    model_config = ConfigDict(frozen=True)
    base_equity: BaseEquity
    global_sl_pct: BreakerStopPercent | None = None  # 80: trip when equity <= 80 % of base
    global_tp_pct: BreakerTakeProfitPercent | None = None  # 120: trip at >= 120 % of base
    liquidate_on_tp: bool = False
    active: bool = True
    units: Literal["percent"] = "percent"


class Account(BaseModel):
    """A broker account that strategies trade on."""

    model_config = ConfigDict(frozen=True)
    id: AccountId
    tenant_id: TenantId
    name: Name
    broker: Literal["paper", "alpaca", "binance", "bybit", "okx", "orderly"] = "paper"
    alpaca: AlpacaConfig | None = None
    # Keys and settings of a crypto exchange account (binance, bybit, okx, orderly).
    exchange: ExchangeConfig | None = None
    currency: str = "USD"
    starting_cash: Cash = Decimal(100_000)
    slippage_bps: BasisPoints | None = None
    fee_bps: BasisPoints | None = None
    active: bool = True
    # Disabled by a global admin: only a global admin re-enables it (set by the server).
    suspended: bool = False
    breaker: BreakerConfig | None = None
    rate_limits: RateLimits | None = None
    # Set by the breaker's stop-loss trip; only an operator's resume clears it.
    paused: bool = False
    paused_reason: str = ""


class Strategy(BaseModel):
    """A signal source (bot / TradingView strategy) bound to one account."""

    model_config = ConfigDict(frozen=True)
    id: StrategyId
    tenant_id: TenantId
    account_id: AccountId
    name: Name
    slug: Slug
    rate_limits: RateLimits | None = None
    # The secret is kept only in the registry bucket (sealed); never in events or logs.
    secret: str = Field(repr=False)
    # After a rotation the old secret keeps working until ``previous_valid_until``.
    previous_secret: str = Field(default="", repr=False)
    previous_valid_until: datetime | None = None
    # PEM public key for bots that sign JWTs with RS256/ES256/EdDSA (else HS256).
    jwt_public_key: str = ""
    # Source addresses allowed to post (IPs, CIDRs, or the preset "tradingview");
    # empty: any.
    ip_allowlist: list[str] = []
    enabled: bool = True
    # Disabled by a global admin: only a global admin re-enables it (set by the server).
    suspended: bool = False
    # New strategies size ``auto``; stored ones keep the mode they were stored with.
    sizing_mode: SizingMode = "auto"
    percent_of_equity: EquityPercent = Decimal(2)
    fixed_quantity: Positive | None = None
    notional: Positive | None = None
    # Pre-trade limits (None / empty = no limit). Exits are never limited: they
    # reduce risk. Each refusal says the rule, the limit and the value.
    max_order_notional: Limit | None = Decimal(50_000)
    max_order_quantity: Limit | None = None
    min_order_notional: Limit | None = None
    min_order_quantity: Limit | None = None
    allowed_symbols: list[str] = []
    max_position_quantity: Limit | None = None
    max_position_notional: Limit | None = None
    daily_notional_limit: Limit | None = None
    daily_order_limit: CountLimit | None = None
    max_open_positions: CountLimit | None = None
    max_leverage: Limit | None = None
    require_stop_loss: bool = False
    max_drawdown_pct: LossPercent | None = None
    # Daily counters and the day's starting equity reset at this zone's midnight.
    day_timezone: str = "UTC"
    quantity_step: Positive = Decimal("0.0001")
    # Order type when the alert does not say (TradingView alerts never do).
    order_type: Literal["market", "limit", "stop"] = "market"
    # Limit/stop price from the alert's price (else the last known price) …
    use_strategy_order_price: bool = True
    # … moved by this many ticks (signed: + is higher).
    limit_offset_ticks: int = 0
    tick_size: Positive = Decimal("0.01")
    time_in_force: Literal["day", "gtc", "ioc"] = "day"
    # The instrument of strategy-routed alerts, which name only the strategy.
    symbol: str = ""
    # Protective legs after an entry fills: a stop-loss and a take-profit as an
    # OCO pair, ``sl_pct`` / ``tp_pct`` percent away from the average fill price
    # (or the alert's price when ``use_avg_fill_for_sl_tp`` is off). The alert's
    # own stopLoss / takeProfit take precedence.
    attach_sl_tp: bool = False
    sl_pct: StopPercent | None = None
    tp_pct: TakeProfitPercent | None = None
    use_avg_fill_for_sl_tp: bool = True
    # Make the stop-loss leg a trailing stop at this percent (paper broker).
    trailing_stop_pct: StopPercent | None = None

    @field_validator("day_timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        # Risk reads the trading day in this zone for every signal: an unknown zone
        # would fail each of them, so it is refused when set.
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {zone!r} (an IANA name such as "
                             "'America/New_York')") from exc
        return zone

    @field_validator("ip_allowlist")
    @classmethod
    def _valid_addresses(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            if entry.strip().lower() != "tradingview":
                ipaddress.ip_network(entry.strip(), strict=False)  # ValueError names it
        return entries

    def accepted_secrets(self, now: datetime) -> list[str]:
        """The secrets a sender may use right now (the previous one during overlap)."""
        secrets = [self.secret]
        if self.previous_secret and self.previous_valid_until and now < \
                self.previous_valid_until:
            secrets.append(self.previous_secret)
        return secrets

    def order_type_for(self, requested: str) -> Literal["market", "limit", "stop"]:
        """The alert's order type, or the strategy's when the alert asks for market
        (TradingView alerts never name one)."""
        if requested in ("limit", "stop"):
            return requested  # type: ignore[return-value]
        return self.order_type


CallbackEventType = Literal[CALLBACK_EVENT_TYPES]  # type: ignore[valid-type]


class CallbackEndpoint(BaseModel):
    """A tenant's URL that is told about the events it subscribed to, signed with its
    own ``whsec_`` secret (Standard Webhooks), by the dispatcher."""

    model_config = ConfigDict(frozen=True)
    id: CallbackId
    tenant_id: TenantId
    url: str
    description: Annotated[str, Field(max_length=200)] = ""
    event_types: Annotated[list[CallbackEventType], Field(min_length=1)] = [
        "webhook.trade_executed", "webhook.failed"]
    # Only events of these strategies / accounts (empty: all of the tenant's).
    strategy_ids: list[StrategyId] = []
    account_ids: list[AccountId] = []
    # Sealed at rest like strategy secrets; never in events, logs or views.
    secret: str = Field(repr=False)
    # After a rotation deliveries are signed with both until ``previous_valid_until``.
    previous_secret: str = Field(default="", repr=False)
    previous_valid_until: datetime | None = None
    enabled: bool = True
    # Set by the dispatcher: a delivery was parked (out of retries) and none has
    # succeeded since; why it disabled the endpoint, when it did.
    failing: bool = False
    disabled_reason: str = ""

    @field_validator("url")
    @classmethod
    def _valid_url(cls, url: str) -> str:
        problem = url_problem(url)
        if problem is not None:
            raise ValueError(problem)
        return url

    @field_validator("event_types", "strategy_ids", "account_ids")
    @classmethod
    def _no_repeats(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets a delivery is signed with now (the previous one too during a
        rotation's overlap)."""
        secrets = [self.secret]
        if self.previous_secret and self.previous_valid_until and \
                now < self.previous_valid_until:
            secrets.append(self.previous_secret)
        return secrets

    def wants(self, event_type: str, strategy_id: str, account_id: str) -> bool:
        """Whether an event of this type, strategy and account is delivered here (an
        event without a strategy or account passes a filter on it only when the
        filter is empty)."""
        return self.enabled and event_type in self.event_types and \
            (not self.strategy_ids or strategy_id in self.strategy_ids) and \
            (not self.account_ids or account_id in self.account_ids)


Record = Tenant | Account | Strategy | CallbackEndpoint
RecordModel = type[Tenant] | type[Account] | type[Strategy] | type[CallbackEndpoint]
# A record's kind is its KV key prefix (``tenant.<id>``) and the name of its trail.
RECORD_MODELS: dict[str, RecordModel] = {
    "tenant": Tenant, "account": Account, "strategy": Strategy, "callback": CallbackEndpoint}


def kind_of(record: Record) -> str:
    """``tenant``, ``account``, ``strategy`` or ``callback``."""
    return {Tenant: "tenant", Account: "account", Strategy: "strategy",
            CallbackEndpoint: "callback"}[type(record)]


_SLUG_BREAK = re.compile(r"[^a-z0-9]+")
SLUG_BASE_LENGTH = identifiers.SLUG.max_length - 8


_CAMEL = re.compile(r"^([A-Z][a-z0-9]+)([A-Z][A-Za-z0-9]*)$")


def slugify(name: str) -> str:
    """URL slug from a strategy name: lower case, dashes between words.

    A single CamelCase word splits after its first part, as the product's
    registration examples do: ``DynamicGoldBreakout`` → ``dynamic-goldbreakout``.
    """
    camel = _CAMEL.match(name.strip())
    if camel:
        slug = f"{camel.group(1)}-{camel.group(2)}".lower()
    else:
        slug = _SLUG_BREAK.sub("-", name.lower())
    # Room for a "-NN" suffix within the slug's maximum length.
    return slug[:SLUG_BASE_LENGTH].strip("-") or "strategy"
