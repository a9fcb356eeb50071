"""Admin API: tenants (and their notification channels), accounts, strategies, callback
endpoints and admin keys under ``/api/v1/``.

Every route needs an admin key or admin JWT; a tenant-scoped one sees only its
tenant (anything else is a 404). Secrets are answered once, when a strategy is
created or rotated, and never listed. Every change is stored in the registry and
recorded as a ``registry.*`` event carrying the record, so the event store alone
can rebuild the registry (``tradehooks rebuild-registry``).
"""

from __future__ import annotations

from aiohttp import web

from services.api import (
    admin_accounts,
    admin_callbacks,
    admin_channels,
    admin_keys,
    admin_strategies,
    admin_tenants,
    callback_deliveries,
)


def add_routes(app: web.Application) -> None:
    """Mount every admin route."""
    admin_tenants.add_routes(app)
    admin_channels.add_routes(app)
    admin_accounts.add_routes(app)
    admin_strategies.add_routes(app)
    admin_callbacks.add_routes(app)
    callback_deliveries.add_routes(app)
    admin_keys.add_routes(app)
