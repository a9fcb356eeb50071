"""Units and ranges of the registry's numeric settings.

One rule: every percentage setting is a **percent** (``sl_pct: 1`` is 1 %,
``global_sl_pct: 80`` is 80 % of base equity). Each type below carries its range,
so a value outside it is refused (a 422 naming the field in the admin API, an error
naming it in a registry file) with a message that says the unit — never read in
another unit, never clamped.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, ValidationError, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import PydanticCustomError

_BOUND_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than",
                           "less_than_equal"})


def _explained(rule: str) -> WrapValidator:
    """Replace pydantic's bare bound message with one that says the unit."""

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            if exc.errors()[0]["type"] in _BOUND_ERRORS:
                raise PydanticCustomError("out_of_range", "{rule}, got {value}",
                                          {"rule": rule, "value": str(value)}) from None
            raise

    return WrapValidator(check)


# Percent of equity an entry uses (2 = 2 %); above 100 would borrow.
EquityPercent = Annotated[Decimal, Field(gt=0, le=100), _explained(
    "must be a percent above 0 and at most 100 (2 = 2 % of equity)")]
# Distance of a protective stop from the entry price (1 = 1 %). At 100 a long's stop
# would sit at price 0.
StopPercent = Annotated[Decimal, Field(gt=0, lt=100), _explained(
    "must be a percent above 0 and below 100 (1 = 1 % from the entry price)")]
# Distance of a take-profit from the entry price (2 = 2 %).
TakeProfitPercent = Annotated[Decimal, Field(gt=0, le=1000), _explained(
    "must be a percent above 0 and at most 1000 (2 = 2 % from the entry price)")]
# A drawdown from the day's starting equity (5 = 5 %; 0 allows none).
LossPercent = Annotated[Decimal, Field(ge=0, le=100), _explained(
    "must be a percent from 0 to 100 (5 = 5 %)")]
# The breaker's stop, in percent of base equity: it trips when equity falls to it.
# At 100 or more it would trip at once on an untouched account; below 1 it can only be
# a fraction written under the old rule (0.9 meaning 90 %).
BreakerStopPercent = Annotated[Decimal, Field(ge=1, lt=100), _explained(
    "must be a percent of base_equity from 1 to below 100 (80 = trip when equity falls "
    "to 80 % of base_equity; fractions such as 0.8 are not used)")]
# The breaker's take-profit, in percent of base equity: a gain, so above 100 (at or
# below 100 it would trip at once); hence always above the breaker's stop.
BreakerTakeProfitPercent = Annotated[Decimal, Field(gt=100, le=10_000), _explained(
    "must be a percent of base_equity above 100 and at most 10000 (120 = trip when "
    "equity reaches 120 % of base_equity; fractions such as 1.2 are not used)")]
# Basis points (5 = 0.05 %), at most 100 %.
BasisPoints = Annotated[Decimal, Field(ge=0, le=10_000), _explained(
    "must be basis points from 0 to 10000 (5 = 0.05 %)")]
# A limit: 0 allows nothing, a negative one means nothing.
Limit = Annotated[Decimal, Field(ge=0), _explained("must not be negative")]
CountLimit = Annotated[int, Field(ge=0), _explained("must not be negative")]
# A size, amount or step that must exist to mean anything.
Positive = Annotated[Decimal, Field(gt=0), _explained("must be greater than 0")]
# Money an account starts with or a breaker measures against.
Cash = Annotated[Decimal, Field(ge=0, lt=Decimal(10) ** 12), _explained(
    "must be an amount from 0 to below 10^12")]
BaseEquity = Annotated[Decimal, Field(gt=0, lt=Decimal(10) ** 12), _explained(
    "must be an amount above 0 and below 10^12")]
