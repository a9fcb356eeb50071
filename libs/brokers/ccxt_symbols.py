"""Symbols and client order ids between the pipeline and a ccxt venue (pure).

The pipeline spells a crypto instrument the venue-neutral way the validator chose
(:func:`domain.symbols.normalise_symbol`): ``BTC/USDT`` on Binance, Bybit and OKX,
``BTC-PERP`` on the Orderly Network. ccxt names a market by its unified symbol:
spot ``BTC/USDT``, a linear perpetual ``BTC/USDT:USDT`` (settled in its quote). The
account's market (spot or perpetual) decides which one an order goes to, and the
positions the venue reports are spelled back the pipeline's way so that risk finds
them under the symbol the alerts use.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

MarketKind = Literal["spot", "perp"]
ORDERLY_SETTLE = "USDC"
_PERP = "-PERP"


def venue_symbol(symbol: str, market: MarketKind, venue: str) -> str:
    """ccxt's unified symbol of the market an order in ``symbol`` goes to.

    ``BTC/USDT`` → ``BTC/USDT`` (spot) or ``BTC/USDT:USDT`` (perp); on Orderly every
    market is a USDC perpetual: ``BTC-PERP`` (or any ``BTC/...``) → ``BTC/USDC:USDC``.
    Raises ValueError for a symbol that is no ``BASE/QUOTE`` or ``BASE-PERP`` pair.
    """
    if venue == "orderly":
        base = symbol.removesuffix(_PERP).partition("/")[0]
        if not base.isalnum():
            raise ValueError(f"{symbol!r} is no crypto pair")
        return f"{base}/{ORDERLY_SETTLE}:{ORDERLY_SETTLE}"
    base, slash, quote = symbol.partition("/")
    if not slash or not base.isalnum() or not quote.isalnum():
        raise ValueError(f"{symbol!r} is no BASE/QUOTE crypto pair")
    return f"{base}/{quote}" if market == "spot" else f"{base}/{quote}:{quote}"


def pipeline_symbol(unified: str, venue: str) -> str:
    """The pipeline's spelling of a ccxt market: ``BTC/USDT:USDT`` → ``BTC/USDT``;
    on Orderly ``BTC/USDC:USDC`` → ``BTC-PERP``."""
    pair = unified.partition(":")[0]
    if venue == "orderly":
        return pair.partition("/")[0] + _PERP
    return pair


@dataclass(frozen=True)
class ClientIdRule:
    """What a venue accepts as a client order id."""

    max_length: int
    pattern: re.Pattern[str]
    # Leg suffixes kept readable in a shortened id ("-sl" or "sl").
    keep_dash: bool = True


def venue_client_id(client_order_id: str, rule: ClientIdRule) -> str:
    """Our ``client_order_id`` as the venue takes it: itself when it fits the
    venue's rule, else a deterministic digest (``th`` + hex) that keeps the leg
    suffix, so a retry looks up the same id and legs stay recognisable.

    A leg's digest is its entry's and the suffix (``th<hex>-sl``; ``th<hex>sl``
    where the venue takes no dash, OKX): siblings share the hex, so an adapter that
    did not place them (the monitor's, or the executor's after a restart) lists
    them as the legs of one entry (one OCO group), not as two entries' legs of which
    the older would be cancelled. A dashless leg is listed as ``th<hex>-sl``
    (:func:`listed_client_id`), and such a listed id maps back to the venue's here."""
    if len(client_order_id) <= rule.max_length and rule.pattern.fullmatch(client_order_id):
        return client_order_id
    if not rule.keep_dash and _LISTED_LEG.fullmatch(client_order_id):
        return client_order_id.replace("-", "")
    suffix, digested = "", client_order_id
    for leg in ("-sl", "-tp"):
        if client_order_id.endswith(leg):
            suffix = leg if rule.keep_dash else leg[1:]
            digested = client_order_id.removesuffix(leg)
    room = rule.max_length - 2 - len(suffix)
    digest = hashlib.sha256(digested.encode()).hexdigest()[: min(room, 30)]
    return f"th{digest}{suffix}"


def listed_client_id(venue_id: str, rule: ClientIdRule) -> str:
    """The id to report for an order the venue lists under ``venue_id`` when this
    process does not know ours: a dashless leg digest (``th<hex>sl``) as a leg of
    its entry (``th<hex>-sl``), anything else as it is."""
    if not rule.keep_dash and _VENUE_LEG.fullmatch(venue_id):
        return f"{venue_id[:-2]}-{venue_id[-2:]}"
    return venue_id


_VENUE_LEG = re.compile(r"th[0-9a-f]{28}(sl|tp)")
_LISTED_LEG = re.compile(r"th[0-9a-f]{28}-(sl|tp)")
