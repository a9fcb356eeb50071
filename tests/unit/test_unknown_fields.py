"""A misspelt or unknown setting in an admin body is refused, never ignored."""

from __future__ import annotations

import pytest

from libs.http.problems import Problem
from libs.registry.models import Account, Strategy
from services.api.admin_common import patched, unknown_field, validated
from tests.factories import make_account, make_strategy


@pytest.mark.parametrize(("model", "body", "unknown"), [
    (Strategy, {"max_order_notionl": 5}, "max_order_notionl"),
    (Strategy, {"name": "x", "sizing_modee": "fixed"}, "sizing_modee"),
    (Strategy, {"rate_limits": {"per_minute": 1, "per_minut": 2}}, "rate_limits.per_minut"),
    (Account, {"breaker": {"max_daily_loss": 3}}, "breaker.max_daily_loss"),
    (Account, {"alpaca": {"key_id": "k", "secret": "s"}}, "alpaca.secret"),
    (Strategy, {"name": "x", "rate_limits": None}, None),
    (Account, {"name": "x", "breaker": None, "starting_cash": "10"}, None),
])
def test_the_first_unknown_field_is_named_with_its_path(model: type, body: dict,
                                                        unknown: str | None) -> None:
    assert unknown_field(model, body) == unknown


def test_a_patch_with_an_unknown_field_is_a_422_naming_it() -> None:
    with pytest.raises(Problem) as refused:
        patched(make_strategy(), {"max_order_notionl": "5"}, frozenset())
    assert (refused.value.status, refused.value.extra["field"]) == (422, "max_order_notionl")
    assert patched(make_strategy(), {"max_order_notional": "5"}, frozenset()) \
        .max_order_notional == 5


def test_a_create_with_an_unknown_nested_field_is_a_422_naming_it() -> None:
    fields = {**make_account().model_dump(), "breaker": {"max_daily_loss": 3}}
    with pytest.raises(Problem) as refused:
        validated(Account, fields)
    assert refused.value.extra["field"] == "breaker.max_daily_loss"
