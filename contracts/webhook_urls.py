"""Where a strategy's webhooks go: the one place that builds a webhook URL or path.

A strategy's URL names its tenant and its slug, ``/webhook/{tenant}/{slug}``: slugs
are unique within a tenant only, so a URL of the slug alone could be claimed by
another tenant. The legacy ``/webhook/{slug}`` stays as an alias while the slug is
unique across tenants; the universal ``/webhook`` routes by the credential.
"""

from __future__ import annotations

# The routes of ingress (aiohttp and OpenAPI spell path parameters alike).
UNIVERSAL_ROUTE = "/webhook"
STRATEGY_ROUTE = "/webhook/{tenant}/{slug}"
LEGACY_ROUTE = "/webhook/{slug}"


def webhook_path(tenant_id: str, slug: str) -> str:
    """The path of a strategy's webhook: ``/webhook/<tenant>/<slug>``. Both ids are
    of the identifier shapes (letters, digits, ``-``, ``_``): nothing to escape."""
    return STRATEGY_ROUTE.format(tenant=tenant_id, slug=slug)


def webhook_url(base_url: str, tenant_id: str, slug: str) -> str:
    """The full webhook URL of a strategy under ``base_url`` (the public URL)."""
    return base_url.rstrip("/") + webhook_path(tenant_id, slug)
