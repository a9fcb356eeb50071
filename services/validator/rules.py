"""Pure validation decisions: alert → signal, and the account/broker checks."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.dialects import ParsedAlert
from contracts.signals import Signal
from domain.symbols import classify_symbol, normalise_symbol
from libs.brokers.capabilities import capabilities_of
from libs.registry.gate import Closed, closed
from libs.registry.models import Account, Strategy, Tenant


@dataclass(frozen=True)
class Refusal:
    """Why a signal cannot go on (becomes ``webhook.failed`` at stage validate)."""

    code: str
    reason: str


def build_signal(alert: ParsedAlert, broker: str, default_symbol: str = "") -> Signal | Refusal:
    """Normalise a parsed alert into the internal signal for ``broker``.

    ``default_symbol`` (the strategy's instrument) serves alerts that name only
    the strategy, like strategy-routed ones. A ``close_all`` / ``cancel_all`` of the
    whole account (scope ``account``) names no symbol.
    """
    metadata = dict(alert.extras)
    if alert.confidence is not None:
        metadata["confidence"] = alert.confidence
    if alert.scope == "account":
        return Signal(dialect=alert.dialect, symbol="", asset_class="unknown",
                      intent=alert.intent,  # type: ignore[arg-type]
                      scope="account", comment=alert.comment, alert_time=alert.alert_time,
                      alert_id=alert.alert_id, metadata=metadata)
    symbol = alert.symbol or default_symbol
    if not symbol:
        return Refusal("missing_symbol",
                       "the alert names no symbol and the strategy has no default symbol")
    return Signal(
        dialect=alert.dialect,
        symbol=normalise_symbol(symbol, broker),
        asset_class=classify_symbol(symbol),
        intent=alert.intent,  # type: ignore[arg-type]
        quantity=alert.quantity,
        price=alert.price,
        order_type=alert.order_type,  # type: ignore[arg-type]
        stop_loss=alert.stop_loss,
        take_profit=alert.take_profit,
        comment=alert.comment,
        alert_time=alert.alert_time,
        alert_id=alert.alert_id,
        metadata=metadata,
        percent=alert.percent,
    )


def check_route(strategy: Strategy | None, account: Account | None,
                tenant_id: str, tenant: Tenant | None = None) -> Refusal | None:
    """The strategy and account exist, belong to the tenant and may trade (the one
    gate, :func:`libs.registry.gate.closed`)."""
    if tenant is not None and not tenant.active:
        return _refusal(closed(tenant))
    if strategy is None:
        return Refusal("unknown_strategy", "the strategy no longer exists")
    if strategy.tenant_id != tenant_id:
        return Refusal("tenant_mismatch", "the strategy belongs to another tenant")
    if (shut := closed(strategy=strategy)) is not None:
        return _refusal(shut)
    if account is None:
        return Refusal("unknown_account", "the strategy's account does not exist")
    if account.tenant_id != tenant_id:
        return Refusal("tenant_mismatch", "the account belongs to another tenant")
    return _refusal(closed(account=account))


def _refusal(shut: Closed | None) -> Refusal | None:
    return None if shut is None else Refusal(shut.code, shut.reason)


def check_alert_targets(alert: ParsedAlert, account: Account,
                        strategy: Strategy | None = None) -> Refusal | None:
    """An alert that names its account, tenant or strategy must name the ones its
    credential is bound to: never trade on an account the sender did not mean."""
    # Strategy-routed alerts are dispatched by the name; in other dialects the
    # name is the sender's own label.
    if strategy is not None and alert.dialect == "routed" and alert.strategy_name not in (
            strategy.name, strategy.slug, strategy.id):
        return Refusal("strategy_mismatch",
                       f"the alert is for strategy {alert.strategy_name!r}, but the "
                       f"credential belongs to {strategy.name!r}")
    if alert.account_hint and alert.account_hint != account.id:
        return Refusal("account_mismatch",
                       f"the alert is for account {alert.account_hint!r}, but this "
                       f"strategy trades account {account.id!r}")
    if alert.tenant_hint and alert.tenant_hint != account.tenant_id:
        return Refusal("tenant_mismatch",
                       f"the alert is for tenant {alert.tenant_hint!r}, not this strategy's")
    return None


# Intents that may open a position (a plain buy/sell may be an entry).
ENTRIES = ("enter_long", "enter_short", "buy", "sell")


def check_broker_rules(signal: Signal, broker: str, order_type: str | None = None,
                       account: Account | None = None,
                       strategy: Strategy | None = None) -> Refusal | None:
    """Refuse what the account's broker cannot do, before any order exists.

    What a broker can do is what its adapter declares
    (:mod:`libs.brokers.capabilities`): the asset classes it trades, short entries,
    stop orders (the alert's own, and the stop-loss leg an entry would get) and
    trailing stop legs per asset class. The paper broker trades
    anything it has a price for; Alpaca trades US equities and crypto, cannot short
    crypto and has no plain stop orders for crypto. ``close_all`` / ``cancel_all``
    only take risk off, whatever the asset: they pass.
    """
    if signal.intent in ("close_all", "cancel_all"):
        return None
    can = capabilities_of(broker, account)
    venue = can.venue or broker
    asset = signal.asset_class
    if asset not in can.asset_classes:
        if asset == "unknown":
            trades = " or ".join(sorted(can.asset_classes)) or "nothing yet"
            return Refusal("asset_not_supported", f"{signal.symbol} is not a symbol {venue} "
                           f"trades (it trades {trades})")
        return Refusal("asset_not_supported", f"{venue} does not trade {asset} ({signal.symbol})")
    if signal.intent == "enter_short" and asset not in can.shorting:
        code = "no_crypto_shorts" if asset == "crypto" else "no_shorts"
        return Refusal(code, f"{venue} cannot short {asset} ({signal.symbol})")
    if (order_type or signal.order_type) == "stop" and asset not in can.stop_orders:
        return Refusal("unsupported_order_type", f"{venue} has no stop orders for {asset}; "
                       "use a market or limit order")
    wants_stop = signal.stop_loss is not None or (
        strategy is not None and strategy.attach_sl_tp and strategy.sl_pct is not None)
    if wants_stop and signal.intent in ENTRIES and asset not in can.stop_orders \
            and asset not in can.native_oco:
        return Refusal("unsupported_stop_loss", f"{venue} has no stop orders for {asset}: "
                       "the stop-loss leg could not be placed; send the alert without a "
                       "stop-loss or clear the strategy's sl_pct")
    if strategy is not None and strategy.attach_sl_tp and strategy.trailing_stop_pct \
            and signal.intent in ENTRIES and asset not in can.trailing_stops:
        return Refusal("unsupported_trailing_stop", f"{venue} has no trailing stops for "
                       f"{asset}: clear the strategy's trailing_stop_pct")
    return None

