"""SL/TP monitor: protective legs after entries fill; exits cancel them."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from contracts import streams
from contracts.events import AnyEvent, OrderRequested, TradeExecuted
from services.brokers.factory import Brokers
from services.registry.models import Account
from services.registry.store import Registry
from services.runtime.clock import Clock
from services.runtime.consumer import Outgoing
from services.runtime.ids import derived_event_id
from services.sltp_monitor.cleanup import orphans
from services.sltp_monitor.legs import protective_legs

log = logging.getLogger(__name__)
EXITS = ("exit_long", "exit_short", "close")


class SlTpMonitor:
    """Follows fills and keeps each position's protective legs right."""

    def __init__(self, registry: Registry, brokers: Brokers, clock: Clock) -> None:
        self.registry = registry
        self.brokers = brokers
        self.clock = clock

    async def handle(self, event: AnyEvent) -> list[Outgoing]:
        """Dispatch one consumed event."""
        if not isinstance(event, TradeExecuted) or event.request is None:
            return []
        request = event.request
        if request.leg:
            return []  # a leg filled: the broker cancels its OCO siblings
        account = await self.registry.account(event.account_id)
        if account is None:
            return []
        symbol = event.fill.symbol
        # The broker's position now (paper fills carry it, Alpaca fills do not).
        position = (await self.brokers.for_account(account).snapshot(account)).position(symbol)
        if request.intent in EXITS or position == 0:
            await self.cancel_legs(account, symbol, "an exit closed the position")
            return []
        strategy = await self.registry.strategy(event.strategy_id)
        if strategy is None or not strategy.attach_sl_tp:
            return []
        request_legs = request.stop_loss_price is not None and \
            request.take_profit_price is not None
        if account.broker == "alpaca" and request_legs:
            return []  # the entry went to Alpaca as a bracket: its legs are there already
        # Legs always cover the whole position: replace those of earlier entries.
        await self.cancel_legs(account, symbol, "replaced by the legs of a newer entry")
        out = []
        one_order = account.broker == "alpaca"  # native OCO: both legs in one order
        for leg in protective_legs(request, event.fill, strategy, one_order, position):
            stage = f"order-leg-{leg.leg}"
            placed = OrderRequested(
                event_id=derived_event_id(event.signal_id, stage), signal_id=event.signal_id,
                tenant_id=event.tenant_id, occurred_at=self.clock.now(),
                strategy_id=event.strategy_id, account_id=event.account_id, order=leg)
            out.append(Outgoing(placed, streams.message_id(event.signal_id, stage)))
        return out

    async def cleanup(self) -> list[dict[str, str]]:
        """Cancel every open leg whose symbol has no position, on every account."""
        canceled: list[dict[str, str]] = []
        for account in await self.registry.accounts():
            try:
                broker = self.brokers.for_account(account)
                snapshot = await broker.snapshot(account)
                for order in orphans(await broker.open_orders(account), snapshot.positions):
                    await broker.cancel_order(account, order.client_order_id,
                                              f"orphan: no position in {order.symbol}")
                    canceled.append({"account_id": account.id, "symbol": order.symbol,
                                     "client_order_id": order.client_order_id})
            except Exception:
                log.exception("cleanup of account %s failed; the next round retries",
                              account.id)
        if canceled:
            log.info("orphan cleanup cancelled %d leg(s)", len(canceled))
        return canceled

    async def status(self, account_id: str | None = None) -> list[dict[str, Any]]:
        """Positions, open orders and bot state per account (all, or one)."""
        strategies = await self.registry.strategies()
        out: list[dict[str, Any]] = []
        for account in await self.registry.accounts():
            if account_id is not None and account.id != account_id:
                continue
            broker = self.brokers.for_account(account)
            # One unreachable broker must not hide every other account's status.
            error: str | None = None
            try:
                snapshot = await broker.snapshot(account)
                orders = await broker.open_orders(account)
            except Exception as exc:
                log.warning("status of account %s: broker unavailable: %r", account.id, exc)
                snapshot, orders, error = None, [], f"broker unavailable: {type(exc).__name__}"
            out.append({
                "account_id": account.id, "tenant_id": account.tenant_id,
                "broker": account.broker, "active": account.active,
                "paused": account.paused, "paused_reason": account.paused_reason,
                "equity": str(snapshot.equity) if snapshot else None,
                "cash": str(snapshot.cash) if snapshot else None,
                "broker_error": error,
                "positions": {s: str(q) for s, q in sorted(snapshot.positions.items())}
                if snapshot else {},
                "open_orders": [msgspec.to_builtins(o) for o in orders],
                "breaker": account.breaker.model_dump(mode="json") if account.breaker else None,
                "strategies": [{"id": s.id, "slug": s.slug, "enabled": s.enabled}
                               for s in strategies if s.account_id == account.id],
            })
        return out

    async def cancel_legs(self, account: Account, symbol: str, reason: str) -> list[str]:
        """Cancel the open protective legs of ``symbol``; returns their order ids.

        The executor's order sync then records each as ``order.leg_canceled``.
        """
        broker = self.brokers.for_account(account)
        canceled = []
        for order in await broker.open_orders(account):
            if order.leg and order.symbol == symbol:
                await broker.cancel_order(account, order.client_order_id, reason)
                canceled.append(order.client_order_id)
        return canceled
