"""The time rules of a webhook JWT, decided on its claims and the clock: pure.

PyJWT checks the signature (and that ``exp`` and ``sub`` are present); the times
are judged here, on ingress's clock, with rules stricter than the library's
defaults: ``exp``/``iat``/``nbf`` must be JSON numbers (PyJWT takes ``"123"``), the
leeway is at most 30 s, ``iat`` may not lie in the future, and a token may not live
longer than the configured maximum (a leaked 10-year token is a leaked secret).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Clock skew forgiven on exp, nbf and iat; the configuration may lower it, not raise it.
MAX_LEEWAY_S = 30
DEFAULT_MAX_LIFETIME_S = 24 * 3600


@dataclass(frozen=True)
class JwtRules:
    """How strictly a webhook JWT's times are judged."""

    leeway_s: int = MAX_LEEWAY_S
    max_lifetime_s: int = DEFAULT_MAX_LIFETIME_S

    def __post_init__(self) -> None:
        if not 0 <= self.leeway_s <= MAX_LEEWAY_S:
            raise ValueError(f"JWT leeway must be 0 to {MAX_LEEWAY_S} s")
        if self.max_lifetime_s < 1:
            raise ValueError("JWT maximum lifetime must be at least 1 s")


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim, None when absent; ValueError naming it when it is not a
    finite JSON number (a string, a bool, NaN)."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value):
        raise ValueError(f"the JWT's {name} must be a number (seconds since the epoch)")
    return float(value)


def time_problem(claims: Mapping[str, Any], now_s: float, rules: JwtRules) -> str | None:
    """Why a (validly signed) token's times are not acceptable at ``now_s``, or None."""
    try:
        exp, iat, nbf = (_number(claims, n) for n in ("exp", "iat", "nbf"))
    except ValueError as exc:
        return str(exc)
    if exp is None:
        return "the JWT must carry exp"
    if exp <= now_s - rules.leeway_s:
        return "the JWT has expired"
    if nbf is not None and nbf > now_s + rules.leeway_s:
        return "the JWT is not valid yet (nbf is in the future)"
    if iat is not None and iat > now_s + rules.leeway_s:
        return "the JWT was issued in the future (iat)"
    # Without iat the token's remaining life is what can be judged.
    lifetime = exp - (iat if iat is not None else now_s)
    if lifetime > rules.max_lifetime_s:
        return (f"the JWT lives longer than the maximum of {rules.max_lifetime_s} s "
                f"({'exp - iat' if iat is not None else 'exp - now'})")
    return None
