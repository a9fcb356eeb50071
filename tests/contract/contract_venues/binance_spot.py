"""Binance spot as a contract venue: the ccxt adapter over real HTTP against the fake
Binance (``tests/fakes/binance_server.py``) trading spot, and its faults. Spot holds
coins, not positions: the position read back is the BTC the account holds, exits
sell what is held, and no shorts are declared (those tests skip)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from decimal import Decimal

from fakes.binance_server import FAKE_KEY, FAKE_SECRET, FakeBinance

from contract_venues._ccxt import CcxtVenue, open_ccxt_venue
from libs.registry.models import ExchangeConfig

NAME = "binance-spot"


def open_venue() -> AbstractAsyncContextManager[CcxtVenue]:
    fake = FakeBinance(hang_seconds=0.6)
    return open_ccxt_venue(
        "binance", fake, lambda url: ExchangeConfig(
            api_key=FAKE_KEY, secret=FAKE_SECRET, market="spot", url_override=url),
        # 1 BTC at 60000 USDT: the fake account (100000 USDT) pays for it.
        symbol="BTC/USDT", market="BTCUSDT", place="POST /api/v3/order",
        refusal="Account has insufficient balance for requested action. (contract suite)",
        quantity=Decimal(1),
        fill=lambda sent_as, quantity: fake.fill_partially("spot", sent_as, quantity))
