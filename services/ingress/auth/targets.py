"""Which strategies a webhook's URL can mean, and the answer when it means several.

``/webhook/{tenant}/{slug}`` names one strategy (or none); the legacy alias
``/webhook/{slug}`` names every strategy with that slug, in any tenant; the universal
``/webhook`` names none, and the credential decides. A credential is only ever
checked against the strategies its URL can mean, so a credential of one strategy
posted to another strategy's URL is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from contracts.webhook_urls import webhook_path
from libs.http.problems import Problem
from libs.registry.cache import StrategyCache
from libs.registry.models import Strategy


@dataclass(frozen=True)
class UrlTarget:
    """The strategy part of a webhook URL (both None: the universal URL)."""

    tenant: str | None = None
    slug: str | None = None

    @classmethod
    def of(cls, match_info: Mapping[str, str]) -> UrlTarget:
        """From the route's path parameters (already checked for their shape)."""
        return cls(match_info.get("tenant"), match_info.get("slug"))

    @property
    def universal(self) -> bool:
        """True for ``/webhook`` (and its alias): no strategy in the URL."""
        return self.slug is None

    @property
    def legacy(self) -> bool:
        """True for ``/webhook/{slug}`` (no tenant)."""
        return self.slug is not None and self.tenant is None

    def strategies(self, cache: StrategyCache) -> list[Strategy] | None:
        """The strategies this URL can mean, or None for the universal URL."""
        if self.slug is None:
            return None
        if self.tenant is None:
            return cache.with_slug(self.slug)
        found = cache.at(self.tenant, self.slug)
        return [found] if found is not None else []


def ambiguous(target: UrlTarget, at_url: list[Strategy] | None) -> Problem | None:
    """409 when a legacy URL's slug belongs to strategies of several tenants and the
    credential picked none of them. The answer names the URL form, never the other
    tenants."""
    if not target.legacy or at_url is None or len(at_url) < 2:
        return None
    form = webhook_path("<tenant>", str(target.slug))
    return Problem(409, "ambiguous_url",
                   f"several tenants have a strategy with this slug: post to {form} "
                   "with your tenant id (the webhook URL the API answered when the "
                   "strategy was created)")
