"""What differs between the venues the ccxt adapter trades on, in one table.

Each venue names its ccxt exchange class, the options that keep ccxt to the markets
an account trades (no margin, option or currency calls: fewer requests, and the
fake venues in the tests serve only what is used), the rule its client order ids
follow, the currency cash is counted in, and whether stop orders live in a separate
book (Orderly's, Binance USDⓈ-M's and OKX's algo orders) that a lookup must search too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from libs.brokers.ccxt_symbols import ClientIdRule, MarketKind

_ID36 = ClientIdRule(36, re.compile(r"[A-Za-z0-9_-]+"))


@dataclass(frozen=True)
class Venue:
    """One venue's settings for ccxt."""

    name: str
    ccxt_class: str
    client_ids: ClientIdRule
    cash_currency: str
    # ccxt's defaultType per market kind.
    default_type: dict[MarketKind, str]
    # ccxt's fetchMarkets types per market kind.
    market_types: dict[MarketKind, list[str]]
    # Stop orders are looked up and cancelled as trigger (algo) orders.
    separate_stop_book: frozenset[MarketKind] = frozenset()
    extra_options: dict[str, Any] = field(default_factory=dict)
    markets: frozenset[MarketKind] = frozenset({"spot", "perp"})
    # A piece of the venue's answer to a lookup of an unknown order, where ccxt does
    # not raise OrderNotFound for it (Orderly: -1006 RESOURCE_NOT_FOUND).
    not_found_marker: str = ""
    # The perpetual balance's total already counts open positions' unrealised profit
    # (Binance's margin balance); else the adapter adds it (Orderly's holding).
    total_includes_unrealised: bool = False
    # The ccxt parameter that finds or cancels an order by our client order id.
    lookup_param: str = "clientOrderId"
    # Perpetual stops say which way the price must cross (Bybit's triggerDirection;
    # ccxt refuses it on Bybit spot).
    stop_direction: bool = False
    # Each perpetual order names its margin mode (OKX's tdMode), and leverage is set
    # for that mode (OKX's set-leverage) instead of a separate margin mode call.
    margin_mode_per_order: bool = False
    # The field a stop (algo) order carries our id in besides clientOrderId (OKX's
    # algoClOrdId, by which ccxt finds and cancels trigger orders).
    stop_client_param: str = ""
    # The venue's own filter of an open-order listing per market kind, where ccxt
    # would pass its ``type`` on as a query parameter (OKX's instType); else ``type``.
    listing_filter: dict[MarketKind, dict[str, str]] = field(default_factory=dict)

    def listing(self, market: MarketKind) -> dict[str, Any]:
        """The parameters that keep an open-order listing to ``market``."""
        return dict(self.listing_filter.get(market) or {"type": self.default_type[market]})

    def options(self, market: MarketKind) -> dict[str, Any]:
        """ccxt options for an account trading ``market``."""
        return {"defaultType": self.default_type[market],
                "fetchMarkets": {"types": self.market_types[market]},
                "fetchCurrencies": False, **self.extra_options}


VENUES: dict[str, Venue] = {
    "binance": Venue(
        name="binance", ccxt_class="binance", cash_currency="USDT",
        client_ids=ClientIdRule(36, re.compile(r"[.A-Z:/a-z0-9_-]+")),
        default_type={"spot": "spot", "perp": "future"},
        market_types={"spot": ["spot"], "perp": ["linear"]},
        separate_stop_book=frozenset({"perp"}), total_includes_unrealised=True,
        extra_options={"warnOnFetchOpenOrdersWithoutSymbol": False}),
    "bybit": Venue(
        name="bybit", ccxt_class="bybit", cash_currency="USDT", client_ids=_ID36,
        default_type={"spot": "spot", "perp": "swap"},
        market_types={"spot": ["spot"], "perp": ["linear"]},
        lookup_param="orderLinkId", total_includes_unrealised=True, stop_direction=True,
        # Spot stops are StopOrder-filtered orders, found and cancelled as trigger
        # orders (ccxt's orderFilter=StopOrder), as linear conditional orders are.
        separate_stop_book=frozenset({"spot", "perp"}),
        # A unified trading account (Bybit's default); fetchOrder reads the last 500.
        extra_options={"enableUnifiedMargin": False, "enableUnifiedAccount": True,
                       "fetchOrder": {"acknowledged": True}}),
    "okx": Venue(
        name="okx", ccxt_class="okx", cash_currency="USDT",
        client_ids=ClientIdRule(32, re.compile(r"[A-Za-z0-9]+"), keep_dash=False),
        default_type={"spot": "spot", "perp": "swap"},
        market_types={"spot": ["spot"], "perp": ["swap"]},
        # Trigger (stop) orders are algo orders, on spot and swaps alike; the trading
        # balance's equity counts the positions' unrealised profit.
        separate_stop_book=frozenset({"spot", "perp"}), total_includes_unrealised=True,
        margin_mode_per_order=True, stop_client_param="algoClOrdId",
        listing_filter={"spot": {"instType": "SPOT"}, "perp": {"instType": "SWAP"}},
        # One order per request (ccxt's default is the batch endpoint).
        extra_options={"createOrder": "privatePostTradeOrder"}),
    "orderly": Venue(
        name="orderly", ccxt_class="woofipro", cash_currency="USDC", client_ids=_ID36,
        default_type={"spot": "swap", "perp": "swap"},
        market_types={"spot": ["swap"], "perp": ["swap"]},
        separate_stop_book=frozenset({"perp"}), markets=frozenset({"perp"}),
        extra_options={"brokerId": "tradehooks"}, not_found_marker="-1006"),
}


def overridden_urls(api: Any, origin: str) -> Any:
    """ccxt's ``urls['api']`` with every URL's scheme and host replaced by
    ``origin`` (paths kept): how a test or a proxy stands in for the venue."""
    if isinstance(api, dict):
        return {key: overridden_urls(value, origin) for key, value in api.items()}
    if not isinstance(api, str):
        return api
    target = urlsplit(origin)
    parts = urlsplit(api)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))
