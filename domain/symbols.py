"""Asset class and broker spelling of an alert's symbol.

Alerts spell one instrument many ways (``BINANCE:BTCUSDT``, ``BTC-USD``, ``btc/usd``,
``NYSE:BRK.B``, ``OANDA:EUR_USD``). The rules, in order:

1. An exchange prefix decides the family when it is a known venue: an equity
   exchange admits only ticker shapes, a forex venue only currency pairs, a crypto
   exchange any ``BASE`` + crypto quote.
2. Without one: forex (two ISO currencies), then crypto with a well-known base,
   then an equity ticker (1-5 letters, optional class suffix), then crypto quoted in
   a crypto-only currency (USDT, USDC, BTC, ETH) whatever the base.

A bare base such as ``ETH`` or ``BTC`` is an equity: several crypto names are also
stock or ETF tickers, and a pair always names its quote. Metals (``XAUUSD``) are
``unknown`` on purpose: XAU/XAG/XPT/XPD have ISO 4217 codes but are commodities,
Alpaca trades neither them nor forex, and sizing them as currency pairs would be
wrong, so the risk stage must see them as unsupported rather than as forex.

Perpetual spellings are crypto: ``BTC-PERP`` (the KEK DEX alerts), TradingView's
``BINANCE:BTCUSDT.P``, Orderly's ``PERP_BTC_USDC`` and OKX's ``BTC-USDT-SWAP``.
Crypto venues spell them their way (:func:`normalise_symbol`): Orderly trades only
USDC-settled perpetuals, so any
BTC pair there is ``BTC-PERP``; on Binance, Bybit and OKX a quote-less ``BTC-PERP`` is
the USDT-margined ``BTC/USDT`` (the account's market says spot or perpetual).
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

from contracts.signals import AssetClass


def _codes(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Most specific first, so BTCUSDT reads as BTC + USDT and not BTCUSD + T.
CRYPTO_QUOTES = ("USDT", "USDC", "USD", "BTC", "ETH", "EUR")
# Quotes no stock or currency pair uses: any base quoted in them is crypto.
_CRYPTO_ONLY_QUOTES = frozenset({"USDT", "USDC", "BTC", "ETH"})
CRYPTO_BASES = _codes(
    "BTC ETH SOL DOGE XRP ADA LTC AVAX DOT LINK MATIC POL BNB SHIB UNI BCH AAVE ATOM "
    "TRX XLM ETC FIL NEAR ALGO APT ARB SUSHI CRV MKR GRT YFI BAT XTZ PEPE TON SUI "
    "HBAR ICP INJ SAND MANA AXS COMP SNX LDO WBTC DAI USDT USDC XBT"
)
# Majors and minors only; metals are left out on purpose (see module docstring).
FIAT = _codes("USD EUR GBP JPY CHF AUD NZD CAD SEK NOK DKK SGD HKD MXN ZAR TRY PLN CNH")
_BASE_ALIASES = {"XBT": "BTC"}  # Kraken's name for bitcoin

_EQUITY_VENUES = frozenset({"NASDAQ", "NYSE", "AMEX", "ARCA", "BATS", "NYSEARCA", "CBOE"})
_FOREX_VENUES = frozenset({"OANDA", "FX", "FX_IDC", "FOREXCOM", "FXCM", "SAXO", "PEPPERSTONE"})
_CRYPTO_VENUES = _codes(
    "BINANCE BINANCEUS COINBASE KRAKEN BITSTAMP BITFINEX BYBIT OKX KUCOIN GEMINI "
    "BITGET MEXC GATEIO HTX"
)

_TICKER = re.compile(r"[A-Z]{1,5}")
_CLASS_TICKER = re.compile(r"([A-Z]{1,5})[./-]([A-Z])")  # BRK.B, BF-A, BRK/B
_PAIR = re.compile(r"([A-Z0-9]+)[/_-]([A-Z0-9]+)")
_PERP_SUFFIX = re.compile(r"([A-Z0-9]+)[-_]PERP")  # BTC-PERP, BTC_PERP
_ORDERLY_PERP = re.compile(r"PERP_([A-Z0-9]+)_([A-Z0-9]+)")  # PERP_BTC_USDC
_OKX_SWAP = re.compile(r"([A-Z0-9]+)-([A-Z0-9]+)-SWAP")  # BTC-USDT-SWAP
_SPELLED_LIKE_ALPACA = frozenset({"alpaca", "paper"})
# Crypto venues traded through ccxt (perpetuals are BASE-PERP on Orderly).
CRYPTO_VENUE_BROKERS = frozenset({"binance", "bybit", "okx", "orderly"})
_SUPPORTED_BROKERS = _SPELLED_LIKE_ALPACA | CRYPTO_VENUE_BROKERS
# The quote a quote-less perpetual (BTC-PERP) has on an exchange that lists many.
PERP_DEFAULT_QUOTE = "USDT"

_CryptoRule = Literal["known base", "crypto quote", "any base"]


class _Reading(NamedTuple):
    asset_class: AssetClass
    spelling: str  # the broker-neutral spelling: BTC/USD, EUR/USD, BRK.B


def classify_symbol(symbol: str) -> AssetClass:
    """The asset class of an alert symbol: crypto, equity, forex or unknown."""
    return _read(symbol).asset_class


def normalise_symbol(symbol: str, broker: str) -> str:
    """The symbol as ``broker`` spells it.

    Crypto becomes ``BASE/QUOTE`` (``BTC/USD``, ``ETH/USDT``), forex ``EUR/USD``,
    equities upper case without exchange prefix (``BRK.B`` keeps its dot); unknown
    symbols are only upper-cased and stripped of a prefix. Paper spells symbols
    exactly like Alpaca so positions line up when an account switches between them.
    Crypto venues: ``BASE-PERP`` on Orderly, ``BASE/QUOTE`` elsewhere (a quote-less
    ``BTC-PERP`` is ``BTC/USDT``). Raises ValueError for any other broker.
    """
    venue = broker.strip().lower()
    if venue not in _SUPPORTED_BROKERS:
        raise ValueError(f"no symbol spelling for broker {venue!r}")
    reading = _read(symbol)
    if venue in _SPELLED_LIKE_ALPACA or reading.asset_class != "crypto":
        return reading.spelling
    base, _, quote = reading.spelling.removesuffix("-PERP").partition("/")
    if venue == "orderly":
        return f"{base}-PERP"
    return f"{base}/{quote or PERP_DEFAULT_QUOTE}"


def _read(symbol: str) -> _Reading:
    venue, _, body = symbol.strip().upper().rpartition(":")
    unknown = _Reading("unknown", body)
    perpetual = _perpetual(venue, body)
    if perpetual is not None:
        return perpetual
    if venue in _EQUITY_VENUES:
        return _equity(body) or unknown
    if venue in _FOREX_VENUES:
        return _forex(body) or unknown
    if venue in _CRYPTO_VENUES:
        return _crypto(body, "any base") or unknown
    return (
        _forex(body)
        or _crypto(body, "known base")
        or _equity(body)
        or _crypto(body, "crypto quote")
        or unknown
    )


def _perpetual(venue: str, body: str) -> _Reading | None:
    """``BTC-PERP`` (quote left to the venue), ``PERP_BTC_USDC``, ``BTCUSDT.P``,
    OKX's ``BTC-USDT-SWAP``."""
    suffixed = _PERP_SUFFIX.fullmatch(body)
    if suffixed:
        base = _BASE_ALIASES.get(suffixed.group(1), suffixed.group(1))
        return _Reading("crypto", f"{base}-PERP")
    venue_spelled = _ORDERLY_PERP.fullmatch(body) or _OKX_SWAP.fullmatch(body)
    if venue_spelled:
        return _crypto("/".join(venue_spelled.groups()), "any base")
    if body.endswith(".P") and venue not in _EQUITY_VENUES | _FOREX_VENUES:
        return _crypto(body.removesuffix(".P"), "any base" if venue else "crypto quote")
    return None


def _forex(body: str) -> _Reading | None:
    pair = _PAIR.fullmatch(body)
    base, quote = pair.groups() if pair else (body[:3], body[3:])
    if base in FIAT and quote in FIAT and base != quote:
        return _Reading("forex", f"{base}/{quote}")
    return None


def _crypto(body: str, accept: _CryptoRule) -> _Reading | None:
    base, quote = _split_crypto(body)
    if quote not in CRYPTO_QUOTES or not base.isalnum():
        return None
    # An unknown base quoted in USD or EUR could be anything (XAUUSD); quoted in a
    # crypto-only currency (PEPEUSDT) it can only be a coin.
    trusted = (
        accept == "any base"
        or base in CRYPTO_BASES
        or (accept == "crypto quote" and quote in _CRYPTO_ONLY_QUOTES)
    )
    if not trusted:
        return None
    return _Reading("crypto", f"{_BASE_ALIASES.get(base, base)}/{quote}")


def _split_crypto(body: str) -> tuple[str, str]:
    pair = _PAIR.fullmatch(body)
    if pair:
        return pair.group(1), pair.group(2)
    for quote in CRYPTO_QUOTES:
        if body.endswith(quote) and len(body) > len(quote):
            return body[: -len(quote)], quote
    return body, ""


def _equity(body: str) -> _Reading | None:
    if _TICKER.fullmatch(body):
        return _Reading("equity", body)
    share_class = _CLASS_TICKER.fullmatch(body)
    if share_class:
        return _Reading("equity", ".".join(share_class.groups()))  # Alpaca's BRK.B
    return None
