"""Binance (USDⓈ-M perpetuals) as a contract venue: the ccxt adapter over real HTTP
against the fake Binance (``tests/fakes/binance_server.py``) and its faults."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from fakes.binance_server import FAKE_KEY, FAKE_SECRET, FakeBinance

from contract_venues._ccxt import CcxtVenue, open_ccxt_venue
from libs.registry.models import ExchangeConfig

NAME = "binance"


def open_venue() -> AbstractAsyncContextManager[CcxtVenue]:
    fake = FakeBinance(hang_seconds=0.6)
    return open_ccxt_venue(
        NAME, fake, lambda url: ExchangeConfig(
            api_key=FAKE_KEY, secret=FAKE_SECRET, market="perp", leverage=3,
            url_override=url),
        symbol="BTC/USDT", market="BTCUSDT", place="POST /fapi/v1/order",
        refusal="Margin is insufficient (contract suite)",
        fill=lambda sent_as, quantity: fake.fill_partially("futures", sent_as, quantity))
