"""Bybit (USDT linear perpetuals, unified account) as a contract venue: the ccxt
adapter over real HTTP against the fake Bybit (``tests/fakes/bybit_server.py``) and its
faults."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from fakes.bybit_server import FAKE_KEY, FAKE_SECRET, FakeBybit

from contract_venues._ccxt import CcxtVenue, open_ccxt_venue
from libs.registry.models import ExchangeConfig

NAME = "bybit"


def open_venue() -> AbstractAsyncContextManager[CcxtVenue]:
    fake = FakeBybit(hang_seconds=0.6)
    return open_ccxt_venue(
        NAME, fake, lambda url: ExchangeConfig(
            api_key=FAKE_KEY, secret=FAKE_SECRET, market="perp", leverage=3,
            url_override=url),
        symbol="BTC/USDT", market="BTCUSDT", place="POST /v5/order/create",
        refusal="ab not enough for new order (contract suite)",
        fill=fake.fill_partially)
