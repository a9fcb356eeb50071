"""The time rules of webhook JWTs: exact, on a fixed clock."""

from __future__ import annotations

from typing import Any

import pytest

from services.ingress.auth.jwt_rules import JwtRules, time_problem

NOW = 2_000_000_000.0
RULES = JwtRules(leeway_s=30, max_lifetime_s=86_400)


@pytest.mark.parametrize("claims", [
    {"exp": NOW + 60},
    {"exp": NOW - 29},  # expired 29 s ago: within the leeway
    {"exp": NOW + 86_400},  # no iat: the remaining life is exactly the maximum
    {"exp": NOW + 3600, "iat": NOW - 82_800},  # a 24 h token in its last hour
    {"exp": NOW + 60, "iat": NOW + 30},  # issued 30 s ahead: the leeway's edge
    {"exp": NOW + 60, "nbf": NOW + 30, "iat": NOW},
    {"exp": int(NOW) + 60, "iat": int(NOW)},  # integers as well as floats
])
def test_acceptable_times(claims: dict[str, Any]) -> None:
    assert time_problem(claims, NOW, RULES) is None


@pytest.mark.parametrize(("claims", "reason"), [
    ({}, "must carry exp"),
    ({"exp": NOW - 30}, "expired"),  # 30 s late is past a 30 s leeway
    ({"exp": NOW - 300}, "expired"),  # the old 300 s tolerance is gone
    ({"exp": str(int(NOW) + 60)}, "exp must be a number"),
    ({"exp": True}, "exp must be a number"),
    ({"exp": float("nan")}, "exp must be a number"),
    ({"exp": float("inf")}, "exp must be a number"),
    ({"exp": [NOW]}, "exp must be a number"),
    ({"exp": NOW + 60, "iat": "now"}, "iat must be a number"),
    ({"exp": NOW + 60, "nbf": None}, "nbf must be a number"),
    ({"exp": NOW + 60, "iat": NOW + 31}, "issued in the future"),
    ({"exp": NOW + 60, "nbf": NOW + 31}, "not valid yet"),
    ({"exp": NOW + 86_401}, "longer than the maximum of 86400 s (exp - now)"),
    ({"exp": NOW + 60, "iat": NOW - 86_400}, "longer than the maximum of 86400 s "
                                             "(exp - iat)"),
    ({"exp": NOW + 10 * 365 * 86_400, "iat": NOW}, "longer than the maximum"),
])
def test_refused_times_say_why(claims: dict[str, Any], reason: str) -> None:
    assert reason in (time_problem(claims, NOW, RULES) or "")


def test_the_leeway_and_lifetime_are_configurable_within_bounds() -> None:
    strict = JwtRules(leeway_s=0, max_lifetime_s=60)
    assert time_problem({"exp": NOW}, NOW, strict) == "the JWT has expired"
    assert time_problem({"exp": NOW + 61}, NOW, strict) is not None
    assert time_problem({"exp": NOW + 60}, NOW, strict) is None
    with pytest.raises(ValueError, match="0 to 30 s"):
        JwtRules(leeway_s=31)
    with pytest.raises(ValueError, match="at least 1 s"):
        JwtRules(max_lifetime_s=0)
