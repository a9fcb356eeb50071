"""Bybit spot (unified account) as a contract venue: the ccxt adapter over real HTTP
against the fake Bybit (``tests/fakes/bybit_server.py``) trading ``category=spot``,
and its faults. Spot holds coins, not positions: the position read back is the BTC
the wallet holds, exits sell what is held, and no shorts are declared (those tests
skip)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from decimal import Decimal

from fakes.bybit_server import FAKE_KEY, FAKE_SECRET, FakeBybit

from contract_venues._ccxt import CcxtVenue, open_ccxt_venue
from libs.registry.models import ExchangeConfig

NAME = "bybit-spot"


def open_venue() -> AbstractAsyncContextManager[CcxtVenue]:
    fake = FakeBybit(hang_seconds=0.6)
    return open_ccxt_venue(
        "bybit", fake, lambda url: ExchangeConfig(
            api_key=FAKE_KEY, secret=FAKE_SECRET, market="spot", url_override=url),
        # 1 BTC at 60000 USDT: the fake wallet (100000 USDT) pays for it.
        symbol="BTC/USDT", market="BTCUSDT", place="POST /v5/order/create",
        refusal="Insufficient balance. (contract suite)",
        quantity=Decimal(1), fill=fake.fill_partially)
