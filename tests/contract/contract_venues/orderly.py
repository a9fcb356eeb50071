"""The Orderly Network as a contract venue: the ccxt adapter (``woofipro``, ed25519
request signing) over real HTTP against the fake Orderly
(``tests/fakes/orderly_server.py``), which checks every signature."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from decimal import Decimal

from fakes.orderly_server import ACCOUNT_ID, FakeOrderly

from contract_venues._ccxt import CcxtVenue, open_ccxt_venue
from libs.registry.models import ExchangeConfig

NAME = "orderly"


def open_venue() -> AbstractAsyncContextManager[CcxtVenue]:
    fake = FakeOrderly(hang_seconds=0.6)
    fake.holding = Decimal(1_000_000)
    return open_ccxt_venue(
        NAME, fake, lambda url: ExchangeConfig(
            api_key=fake.key, secret=fake.secret, account_id=ACCOUNT_ID, market="perp",
            leverage=10, url_override=url),
        symbol="BTC-PERP", market="PERP_BTC_USDC", place="POST /v1/order",
        refusal="The risk exposure for client is too high (contract suite)",
        fill=fake.fill_partially)
