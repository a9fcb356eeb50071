"""OKX (USDT perpetual swaps, which trade in contracts of 0.01 BTC) as a contract
venue: the ccxt adapter over real HTTP against the fake OKX
(``tests/fakes/okx_server.py``), which checks every signature, and its faults."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from fakes.okx_server import FAKE_KEY, FAKE_PASSPHRASE, FAKE_SECRET, FakeOkx

from contract_venues._ccxt import CcxtVenue, open_ccxt_venue
from libs.registry.models import ExchangeConfig

NAME = "okx"
SWAP = "BTC-USDT-SWAP"


def open_venue() -> AbstractAsyncContextManager[CcxtVenue]:
    fake = FakeOkx(hang_seconds=0.6)
    return open_ccxt_venue(
        NAME, fake, lambda url: ExchangeConfig(
            api_key=FAKE_KEY, secret=FAKE_SECRET, password=FAKE_PASSPHRASE, market="perp",
            leverage=3, url_override=url),
        symbol="BTC/USDT", market=SWAP, place="POST /api/v5/trade/order",
        refusal="Order failed. Insufficient USDT margin in account (contract suite)",
        # The suite speaks coins; the fake fills contracts of 0.01 BTC.
        fill=lambda sent_as, coins: fake.fill_partially(
            sent_as, coins / fake.contract_value(SWAP)))
