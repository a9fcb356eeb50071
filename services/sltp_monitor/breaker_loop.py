"""The breaker's timer: every interval, check each armed account and act on a trip.

Stop-loss: ask the executor to cancel the account's open orders
(``order.cancel_requested``) and to close every position (``order.requested``, placed
like any other order; the breaker never writes to a broker itself), pause the
account, publish ``account.breaker_tripped``. Take-profit: publish the event, and
liquidate when configured.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import msgspec
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from contracts import streams
from contracts.events import BreakerTripped, CancelRequested, OrderRequested
from contracts.subjects import token
from libs.brokers.factory import Brokers
from libs.registry.models import Account
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock
from libs.runtime.ids import derived_event_id
from libs.runtime.timers import run_every
from services.sltp_monitor.breaker import (
    BreakerState,
    decide,
    liquidation,
    threshold,
    trip_id,
)

log = logging.getLogger(__name__)
_decoder = msgspec.json.Decoder(BreakerState)


class BreakerLoop:
    """Runs the portfolio breaker of every account that has one."""

    def __init__(self, bus: Bus, registry: Registry, brokers: Brokers, states: KeyValue,
                 clock: Clock, interval_s: float = 10.0,
                 owns: Callable[[Account], bool] | None = None) -> None:
        self.bus = bus
        # With partitions: whether this instance owns the account (None: all are ours).
        self.owns = owns
        self.registry = registry
        self.brokers = brokers
        self.states = states
        self.clock = clock
        self.interval_s = interval_s

    async def run(self, stop: asyncio.Event) -> None:
        """Check every ``interval_s`` until ``stop``."""
        await run_every(stop, self.interval_s, self.check_all, "breaker check")

    async def check_all(self) -> list[BreakerTripped]:
        """One round over every account with a breaker; returns the trips."""
        trips = []
        for account in await self.registry.accounts():
            if account.breaker is not None and account.active and \
                    (self.owns is None or self.owns(account)):
                trip = await self.check(account)
                if trip is not None:
                    trips.append(trip)
        return trips

    async def _state(self, account_id: str) -> BreakerState:
        try:
            entry = await self.states.get(token(account_id))
        except KeyNotFoundError:
            return BreakerState()
        return _decoder.decode(entry.value or b"{}")

    async def check(self, account: Account) -> BreakerTripped | None:
        """Compare the account's equity with its thresholds and act on a trip."""
        assert account.breaker is not None
        reader = self.brokers.reader_for(account)
        snapshot = await reader.snapshot(account)
        kind, state = decide(account.breaker, await self._state(account.id), snapshot.equity)
        if kind is None:
            await self.states.put(token(account.id), msgspec.json.encode(state))
            return None
        now = self.clock.now()
        trip = trip_id(account.id, kind, now)
        liquidate = kind == "sl" or account.breaker.liquidate_on_tp
        canceled: list[str] = []
        reason = f"stop-loss breaker tripped at equity {snapshot.equity:.2f}"
        if liquidate:
            # The executor carries both out, in this order: cancels, then closes.
            canceled = [o.client_order_id for o in await reader.open_orders(account)]
            await self._cancel_all(account, trip, f"{kind} breaker tripped", canceled)
            for symbol, quantity in snapshot.positions.items():
                await self._liquidate(account, trip, symbol, quantity, now)
        if kind == "sl":
            await self.registry.put(account.model_copy(update={
                "paused": True, "paused_reason": reason}))
        level = threshold(account.breaker, kind)
        event = BreakerTripped(
            event_id=derived_event_id(trip, "tripped"), signal_id=trip,
            tenant_id=account.tenant_id, occurred_at=now, account_id=account.id, kind=kind,
            equity=snapshot.equity, threshold=level if level is not None else snapshot.equity,
            base_equity=account.breaker.base_equity,
            liquidating=sorted(snapshot.positions) if liquidate else [],
            canceled_orders=canceled, paused=kind == "sl",
            reason=reason if kind == "sl" else "",
        )
        await self.bus.publish_event(event, streams.message_id(trip, "tripped"))
        # Saved last: a crash before this re-trips next round, which is idempotent
        # per trip id within the round's second and harmless after (already flat).
        await self.states.put(token(account.id), msgspec.json.encode(state))
        log.warning("breaker %s tripped on account %s at equity %s", kind, account.id,
                    snapshot.equity)
        return event

    async def _cancel_all(self, account: Account, trip: str, reason: str,
                          seen: list[str]) -> None:
        """Ask the executor to cancel every open order of the account."""
        request = CancelRequested(
            event_id=derived_event_id(trip, "cancel"), signal_id=trip,
            tenant_id=account.tenant_id, occurred_at=self.clock.now(), account_id=account.id,
            reason=reason, client_order_ids=seen)
        await self.bus.publish_event(request, streams.message_id(trip, "cancel"))

    async def _liquidate(self, account: Account, trip: str, symbol: str,
                         quantity: Decimal, tripped_at: datetime) -> None:
        correlation = f"{trip}:{symbol}"
        # Named after the trip's moment: the what-if replay names it the same way.
        order = liquidation(account.id, symbol, quantity, tripped_at)
        event = OrderRequested(
            event_id=derived_event_id(correlation, "order"), signal_id=correlation,
            tenant_id=account.tenant_id, occurred_at=self.clock.now(), strategy_id="",
            account_id=account.id, order=order)
        await self.bus.publish_event(event, streams.message_id(correlation, "order"))
