"""What a broker adapter can do, declared once per adapter as one typed value.

The validator and risk refuse, with a clear ``webhook.failed`` reason, what the
account's broker cannot do (:func:`unsupported`); the SL/TP monitor asks for
native OCO/bracket legs only where the broker declares them, else places its own
legs. This module is light on purpose (no broker library is imported): every
service reads it, and only the executor loads the adapters themselves.

An adapter declares its value in :data:`DECLARED` (keyed by its ``Account.broker``
name) and carries the same value as its ``capabilities`` attribute; the broker
contract suite (``tests/contract/``) checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from contracts.signals import AssetClass

if TYPE_CHECKING:
    from libs.registry.models import Account

ALL_CLASSES: frozenset[AssetClass] = frozenset({"crypto", "equity", "forex", "unknown"})
NONE: frozenset[AssetClass] = frozenset()


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What one broker can do, per asset class (``crypto``, ``equity``, ``forex``,
    ``unknown``: see :func:`domain.symbols.classify_symbol`).

    - ``asset_classes``: what it trades at all.
    - ``shorting``: short entries (selling what is not held).
    - ``fractional``: quantities that are not whole units; ``fractional_market_only``:
      of those, the classes where a fractional order must be a market order.
    - ``stop_orders``: plain stop orders (the alert's ``orderType: stop`` and the
      stop-loss leg the monitor places).
    - ``native_oco``: one order carrying a stop-loss and a take-profit (a bracket on
      the entry, an OCO pair after the fill); ``native_oco_fractional``: also for
      fractional quantities. Elsewhere the SL/TP monitor places its own legs.
    - ``trailing_stops``: stop legs that follow the market (``trailing_stop_pct``).
    - ``reduce_only``: exits never cross zero and protective legs never grow a
      position (at the venue, or enforced by the adapter before sending).
    - ``leverage``: positions larger than equity (margin, perpetuals);
      ``max_leverage`` the most the venue allows, None when the venue decides.
    """

    asset_classes: frozenset[AssetClass]
    # The venue's name as a trader knows it, for refusals ("Alpaca cannot short ...").
    venue: str = ""
    shorting: frozenset[AssetClass] = NONE
    fractional: frozenset[AssetClass] = NONE
    fractional_market_only: frozenset[AssetClass] = NONE
    stop_orders: frozenset[AssetClass] = NONE
    native_oco: frozenset[AssetClass] = NONE
    native_oco_fractional: bool = False
    trailing_stops: frozenset[AssetClass] = NONE
    reduce_only: bool = True
    leverage: bool = False
    max_leverage: Decimal | None = None

    def native_legs(self, asset_class: AssetClass, quantity: Decimal) -> bool:
        """Does the broker hold a stop-loss and a take-profit of ``quantity`` as one
        native order (bracket / OCO)?"""
        if asset_class not in self.native_oco:
            return False
        return self.native_oco_fractional or quantity == quantity.to_integral_value()


PAPER = Capabilities(
    asset_classes=ALL_CLASSES, venue="the paper broker", shorting=ALL_CLASSES,
    fractional=ALL_CLASSES, stop_orders=ALL_CLASSES, trailing_stops=ALL_CLASSES, reduce_only=True,
)
"""The simulator trades whatever it has a price for, keeps the monitor's legs (OCO
groups, trailing stops) in line with the position itself, and lends nothing."""

ALPACA = Capabilities(
    asset_classes=frozenset({"equity", "crypto"}), venue="Alpaca", shorting=frozenset({"equity"}),
    fractional=frozenset({"equity", "crypto"}), fractional_market_only=frozenset({"equity"}),
    stop_orders=frozenset({"equity"}), native_oco=frozenset({"equity"}),
    native_oco_fractional=False, reduce_only=True, leverage=True,
)
"""US equities and crypto; no crypto shorts, crypto orders simple (no stop, bracket
or OCO), fractional equity orders simple DAY market orders; margin as the account
allows (Alpaca decides)."""

CRYPTO: frozenset[AssetClass] = frozenset({"crypto"})
_VENUE_NAMES = {"binance": "Binance", "bybit": "Bybit", "okx": "OKX",
                "orderly": "the Orderly Network"}
_MAX_LEVERAGE = {"binance": Decimal(125), "bybit": Decimal(100), "okx": Decimal(100),
                 "orderly": Decimal(50)}


def crypto_venue(broker: str, market: str) -> Capabilities:
    """A crypto exchange through ccxt: spot (no shorts, no leverage) or linear
    perpetuals (shorts, leverage, reduce-only exits at the venue); stop orders on
    both; the monitor's legs (no native OCO through ccxt)."""
    perp = market == "perp" or broker == "orderly"
    return Capabilities(
        asset_classes=CRYPTO, venue=_VENUE_NAMES.get(broker, broker),
        shorting=CRYPTO if perp else NONE, fractional=CRYPTO, stop_orders=CRYPTO,
        reduce_only=True, leverage=perp, max_leverage=_MAX_LEVERAGE.get(broker) if perp else None)


def _crypto_account(account: Account) -> Capabilities:
    market = account.exchange.market if account.exchange is not None else "spot"
    return crypto_venue(account.broker, market)


CapabilitySource = Capabilities | Callable[["Account"], Capabilities]

DECLARED: dict[str, CapabilitySource] = {
    "paper": PAPER, "alpaca": ALPACA, "binance": _crypto_account, "bybit": _crypto_account,
    "okx": _crypto_account, "orderly": _crypto_account}
"""Every broker's declaration by ``Account.broker`` name: a value, or a function of
the account for brokers whose abilities depend on its settings (spot or perpetuals)."""


def capabilities_for(account: Account) -> Capabilities:
    """The capabilities of ``account``'s broker; nothing at all for an unknown one."""
    return capabilities_of(account.broker, account)


def capabilities_of(broker: str, account: Account | None = None) -> Capabilities:
    """The capabilities declared for ``broker`` (an account-dependent declaration
    needs ``account``); an unknown broker can do nothing."""
    source = DECLARED.get(broker)
    if source is None:
        return Capabilities(asset_classes=NONE)
    if isinstance(source, Capabilities):
        return source
    if account is None:
        raise ValueError(f"the capabilities of {broker!r} depend on the account")
    return source(account)
