"""OKX spot as a contract venue: the ccxt adapter over real HTTP against the fake OKX
(``tests/fakes/okx_server.py``, every signature checked) trading ``BTC-USDT`` spot,
and its faults. Spot holds coins, not positions: the position read back is the BTC
the account holds, exits sell what is held, and no shorts are declared (those tests
skip)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from decimal import Decimal

from fakes.okx_server import FAKE_KEY, FAKE_PASSPHRASE, FAKE_SECRET, FakeOkx

from contract_venues._ccxt import CcxtVenue, open_ccxt_venue
from libs.registry.models import ExchangeConfig

NAME = "okx-spot"


def open_venue() -> AbstractAsyncContextManager[CcxtVenue]:
    fake = FakeOkx(hang_seconds=0.6)
    return open_ccxt_venue(
        "okx", fake, lambda url: ExchangeConfig(
            api_key=FAKE_KEY, secret=FAKE_SECRET, password=FAKE_PASSPHRASE, market="spot",
            url_override=url),
        # 1 BTC at 60000 USDT: the fake account pays for it.
        symbol="BTC/USDT", market="BTC-USDT", place="POST /api/v5/trade/order",
        refusal="Order failed. Insufficient balance. (contract suite)",
        quantity=Decimal(1), fill=fake.fill_partially)
