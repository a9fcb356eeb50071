"""Orphan cleanup: protective legs that could add exposure get cancelled or shrunk.

The monitor only decides: it reads each account (read-only), finds the legs that
break the protection rule (no position, wrong side, larger than the position, an
older entry's), and asks the executor — the one writer of orders — to carry it out
(``order.cancel_requested`` with ``protection``), which judges each leg again when
it gets there. An on-demand round waits briefly until the broker shows the result.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from decimal import Decimal

from contracts import streams
from contracts.events import CancelRequested
from contracts.orders import BrokerOrder
from domain.protection import is_leg, violations
from libs.brokers.base import BrokerRejected, BrokerUnavailable
from libs.brokers.factory import Brokers
from libs.registry.models import Account
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock
from libs.runtime.ids import derived_event_id

log = logging.getLogger(__name__)
# How long an on-demand cleanup waits for the executor to carry out its requests.
SETTLE_S = 3.0


def orphans(open_orders: list[BrokerOrder], positions: dict[str, Decimal]) -> list[BrokerOrder]:
    """Open legs whose symbol has no position: they could only open one by mistake."""
    return [o for o in open_orders
            if o.status == "open" and is_leg(o) and positions.get(o.symbol, Decimal(0)) == 0]


class OrphanCleanup:
    """Finds legs that break the protection rule on every account and asks the
    executor to fix them."""

    def __init__(self, registry: Registry, brokers: Brokers, bus: Bus, clock: Clock,
                 settle_s: float = SETTLE_S) -> None:
        self.registry = registry
        self.brokers = brokers
        self.bus = bus
        self.clock = clock
        self.settle_s = settle_s

    async def run(self) -> list[dict[str, str]]:
        """One round over every account; the legs it asked to cancel or shrink."""
        requested: list[dict[str, str]] = []
        pending: list[Account] = []
        for account in await self.registry.accounts():
            try:
                found = await self._request(account)
            except (BrokerUnavailable, BrokerRejected) as exc:  # the broker's trouble
                log.warning("cleanup of account %s skipped: %s; the next round retries",
                            account.id, exc)
                continue
            except Exception:
                log.exception("cleanup of account %s failed; the next round retries",
                              account.id)
                continue
            if found:
                requested += found
                pending.append(account)
        if requested:
            log.info("orphan cleanup asked for %d leg(s) to be cancelled or shrunk",
                     len(requested))
            await self._settled(pending)
        return requested

    async def _request(self, account: Account) -> list[dict[str, str]]:
        reader = self.brokers.reader_for(account)
        snapshot = await reader.snapshot(account)
        found = violations(snapshot.positions, await reader.open_orders(account))
        if not found:
            return []
        round_id = f"cleanup:{account.id}:{uuid.uuid4().hex[:12]}"
        request = CancelRequested(
            event_id=derived_event_id(round_id, "cancel"), signal_id=round_id,
            tenant_id=account.tenant_id, occurred_at=self.clock.now(), account_id=account.id,
            legs_only=True, protection=True, reason="orphan",
            client_order_ids=[order.client_order_id for order, _ in found])
        await self.bus.publish_event(request, streams.message_id(round_id, "cancel"))
        return [{"account_id": account.id, "symbol": order.symbol,
                 "client_order_id": order.client_order_id, "action": fix.action,
                 "reason": f"orphan: {fix.reason}"} for order, fix in found]

    async def _settled(self, accounts: list[Account]) -> None:
        """Wait (bounded) until the broker shows no leg breaking the rule any more."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle_s
        waiting = list(accounts)
        while waiting and loop.time() < deadline:
            still = []
            for account in waiting:
                reader = self.brokers.reader_for(account)
                try:
                    snapshot = await reader.snapshot(account)
                    if violations(snapshot.positions, await reader.open_orders(account)):
                        still.append(account)
                except Exception:
                    log.warning("cleanup: could not re-read account %s", account.id)
            waiting = still
            if waiting:
                await asyncio.sleep(0.05)
