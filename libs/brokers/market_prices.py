"""The last price the system saw for each symbol (price ticks, alert prices).

One KV bucket for every service: the paper broker marks positions and fills market
orders with it, risk sizes price-less alerts with it, the operator API marks the
account projection with it, so every answer about an account uses the same prices.

Each price is kept with the time it was observed, and an older observation never
replaces a newer one: a late or redelivered message (an order request carrying its
alert's price from minutes ago) must not move the market backwards, nor fill or
trail resting orders at a price that is gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from contracts.subjects import token


class Observation(msgspec.Struct, frozen=True):
    """A price and when it was seen (None: recorded before times were kept)."""

    price: Decimal
    at: datetime | None = None


_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(Observation)


def _decode(value: bytes) -> Observation | None:
    try:
        return _decoder.decode(value)
    except msgspec.DecodeError:
        pass
    try:  # a plain decimal, as prices were stored before observation times
        return Observation(Decimal(value.decode()))
    except (InvalidOperation, UnicodeDecodeError):
        return None


class MarketPrices:
    """Read and record last prices (bucket ``th_market_prices``)."""

    def __init__(self, kv: KeyValue | None) -> None:
        self.kv = kv
        # The observation this process recorded or read last per key, with its
        # revision: recording after it is one compare-and-set write (which fails,
        # and reads again, if another process recorded meanwhile).
        self._kept: dict[str, tuple[Observation | None, int]] = {}

    async def record(self, symbol: str, price: Decimal, at: datetime | None = None) -> bool:
        """Remember ``price`` as seen ``at``; False (nothing kept) when a newer
        observation is recorded already."""
        if self.kv is None:
            return True
        key = token(symbol)
        observation = Observation(price, at)
        data = _encoder.encode(observation)
        kept = self._kept.get(key)
        while True:
            if kept is None:
                try:
                    entry = await self.kv.get(key)
                except KeyNotFoundError:
                    try:
                        written = await self.kv.create(key, data)
                    except KeyWrongLastSequenceError:
                        continue
                    self._kept[key] = (observation, written)
                    return True
                if entry.revision is None:
                    continue
                kept = (_decode(entry.value or b""), entry.revision)
            current, revision = kept
            # Observations only get newer, so a kept one newer than ``at`` is too.
            if current is not None and current.at is not None and at is not None \
                    and current.at > at:
                self._kept[key] = kept
                return False
            try:
                written = await self.kv.update(key, data, last=revision)
            except KeyWrongLastSequenceError:
                self._kept.pop(key, None)
                kept = None
                continue
            except BaseException:
                self._kept.pop(key, None)
                raise
            self._kept[key] = (observation, written)
            return True

    async def record_many(self, symbol: str,
                          observations: Sequence[tuple[Decimal, datetime | None]]
                          ) -> list[Decimal | None]:
        """Record observations of ``symbol`` in order, as that many :meth:`record`
        calls would, in one write: for each, the price recorded once it was applied
        (its own when it was news, the newer one kept otherwise; None without a
        bucket)."""
        if self.kv is None:
            return [None] * len(observations)
        key = token(symbol)
        kept = self._kept.get(key)
        while True:
            current: Observation | None
            revision: int | None
            if kept is not None:
                current, revision = kept
            else:
                try:
                    entry = await self.kv.get(key)
                except KeyNotFoundError:
                    current, revision = None, None
                else:
                    current, revision = _decode(entry.value or b""), entry.revision
            latest = current
            after: list[Decimal | None] = []
            for price, at in observations:
                if not (latest is not None and latest.at is not None and at is not None
                        and latest.at > at):
                    latest = Observation(price, at)
                after.append(latest.price if latest is not None else None)
            if latest is current or latest is None:
                return after  # nothing was news
            try:
                if revision is None:
                    written = await self.kv.create(key, _encoder.encode(latest))
                else:
                    written = await self.kv.update(key, _encoder.encode(latest), last=revision)
            except KeyWrongLastSequenceError:
                self._kept.pop(key, None)
                kept = None
                continue
            self._kept[key] = (latest, written)
            return after

    async def get(self, symbol: str) -> Decimal | None:
        """The last price recorded for ``symbol``, if any."""
        if self.kv is None:
            return None
        try:
            entry = await self.kv.get(token(symbol))
        except KeyNotFoundError:
            return None
        found = _decode(entry.value or b"")
        return found.price if found is not None else None

    async def of(self, symbols: Iterable[str]) -> dict[str, Decimal]:
        """The recorded prices of ``symbols`` (those without one left out)."""
        out: dict[str, Decimal] = {}
        for symbol in symbols:
            price = await self.get(symbol)
            if price is not None:
                out[symbol] = price
        return out
