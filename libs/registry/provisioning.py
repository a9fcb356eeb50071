"""First-start demo: a tenant, a paper account with 100,000 USD and one strategy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts import streams
from contracts.events import AccountOpened, StrategyRegistered, TenantCreated
from contracts.webhook_urls import webhook_url
from libs.registry.models import Account, Strategy, Tenant, slugify
from libs.registry.secrets import fingerprint, new_secret
from libs.registry.store import Registry
from libs.runtime.bus import Bus
from libs.runtime.clock import Clock
from libs.runtime.ids import derived_event_id

DEMO_TENANT = "demo"
DEMO_ACCOUNT = "demo-paper"
DEMO_STRATEGY = "demo-strategy"


async def register_tenant(bus: Bus, registry: Registry, tenant: Tenant, clock: Clock) -> None:
    """Store the tenant and publish ``registry.tenant_created``."""
    await registry.put(tenant)
    corr = f"tenant:{tenant.id}"
    event = TenantCreated(event_id=derived_event_id(corr, "created"), signal_id=corr,
                          tenant_id=tenant.id, occurred_at=clock.now(), name=tenant.name,
                          record=registry.stored_form(tenant))
    await bus.publish_event(event, streams.message_id(corr, "created"))


async def register_account(bus: Bus, registry: Registry, account: Account, clock: Clock) -> None:
    """Store the account and publish ``registry.account_opened``."""
    await registry.put(account)
    corr = f"account:{account.id}"
    event = AccountOpened(
        event_id=derived_event_id(corr, "opened"), signal_id=corr, tenant_id=account.tenant_id,
        occurred_at=clock.now(), account_id=account.id, name=account.name,
        broker=account.broker, currency=account.currency, starting_cash=account.starting_cash,
        record=registry.stored_form(account),
    )
    await bus.publish_event(event, streams.message_id(corr, "opened"))


async def register_strategy(bus: Bus, registry: Registry, strategy: Strategy,
                            clock: Clock) -> None:
    """Store the strategy and publish ``registry.strategy_registered`` (no secret)."""
    await registry.put(strategy)
    corr = f"strategy:{strategy.id}"
    event = StrategyRegistered(
        event_id=derived_event_id(corr, "registered"), signal_id=corr,
        tenant_id=strategy.tenant_id, occurred_at=clock.now(), strategy_id=strategy.id,
        account_id=strategy.account_id, name=strategy.name, slug=strategy.slug,
        secret_fingerprint=fingerprint(strategy.secret), record=registry.stored_form(strategy),
    )
    await bus.publish_event(event, streams.message_id(corr, "registered"))


async def unique_slug(registry: Registry, tenant_id: str, name: str) -> str:
    """The slug of ``name``, suffixed ``-2``, ``-3``… if the tenant has it already."""
    taken = {s.slug for s in await registry.strategies() if s.tenant_id == tenant_id}
    base = slugify(name)
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def tradingview_message(strategy: Strategy) -> dict[str, Any]:
    """A ready-to-paste TradingView strategy alert message for ``strategy``.

    The target-position form: the trade follows from where the position goes, so
    any Pine order id works, and partial exits carry the fraction they close.
    """
    return {
        "token": strategy.secret,
        "symbol": "{{ticker}}",
        "strategy_order_id": "{{strategy.order.id}}",
        "strategy_order_action": "{{strategy.order.action}}",
        "strategy_order_contracts": "{{strategy.order.contracts}}",
        "strategy_order_price": "{{strategy.order.price}}",
        "strategy_order_comment": "{{strategy.order.comment}}",
        "strategy_market_position": "{{strategy.market_position}}",
        "strategy_market_position_size": "{{strategy.market_position_size}}",
        "strategy_prev_market_position": "{{strategy.prev_market_position}}",
        "strategy_prev_market_position_size": "{{strategy.prev_market_position_size}}",
        "time": "{{timenow}}",
    }


def demo_info(strategy: Strategy, public_url: str, operator_url: str,
              nats_url: str) -> dict[str, Any]:
    """What ``tradehooks up`` prints and saves to ``demo.json``: the webhook URL on the
    public listener, the operator API and metrics on the operator listener."""
    url = webhook_url(public_url, strategy.tenant_id, strategy.slug)
    # Sized auto, the demo strategy buys what the alert says: 5 AAPL.
    sample = {"symbol": "AAPL", "action": "buy", "quantity": "5", "price": "190.50"}
    curl = (
        f"curl -sS -X POST '{url}?token={strategy.secret}' "
        f"-H 'Content-Type: application/json' -d '{json.dumps(sample)}'"
    )
    return {
        "webhook_url": url,
        "secret": strategy.secret,
        "tenant_id": strategy.tenant_id,
        "account_id": strategy.account_id,
        "strategy": strategy.slug,
        "strategy_id": strategy.id,
        "api_url": operator_url,
        "metrics_url": f"{operator_url}/metrics",
        # The web console is served beside the operator API it calls.
        "console_url": f"{operator_url}/",
        "nats_url": nats_url,
        "tradingview_message": tradingview_message(strategy),
        "curl": curl,
    }


async def ensure_demo(bus: Bus, registry: Registry, clock: Clock) -> tuple[Strategy, bool]:
    """Create the demo records unless they exist; returns the strategy and if new."""
    existing = await registry.strategy(DEMO_STRATEGY)
    if existing is not None:
        return existing, False
    await register_tenant(bus, registry, Tenant(id=DEMO_TENANT, name="Demo tenant"), clock)
    await register_account(bus, registry, Account(
        id=DEMO_ACCOUNT, tenant_id=DEMO_TENANT, name="Demo paper account"), clock)
    strategy = Strategy(id=DEMO_STRATEGY, tenant_id=DEMO_TENANT, account_id=DEMO_ACCOUNT,
                        name="Demo strategy", slug="demo-strategy", secret=new_secret())
    await register_strategy(bus, registry, strategy, clock)
    return strategy, True


def write_demo_file(data_dir: Path, info: dict[str, Any]) -> Path:
    """Save the demo details as JSON (0600: it holds the secret)."""
    path = data_dir / "demo.json"
    path.write_text(json.dumps(info, indent=2))
    path.chmod(0o600)
    return path
