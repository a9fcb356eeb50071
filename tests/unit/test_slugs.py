"""Strategy slugs."""

from __future__ import annotations

from libs.registry.models import slugify


def test_slugs_follow_the_registration_examples() -> None:
    assert slugify("DynamicGoldBreakout") == "dynamic-goldbreakout"
    assert slugify("BTC Scalper v2") == "btc-scalper-v2"
    assert slugify("  ") == "strategy"
