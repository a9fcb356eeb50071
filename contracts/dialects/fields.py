"""Pydantic field types built on the coercions, and error translation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, PlainValidator, ValidationError
from pydantic_core import ErrorDetails

from contracts.dialects.coerce import (
    alert_time,
    choice,
    non_negative,
    number,
    optional,
    optional_symbol,
    optional_text,
    order_type,
    percent,
    positive,
    price,
    required_text,
    symbol,
    unit_interval,
)
from contracts.dialects.model import AlertError

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# Credentials travel in the body because TradingView cannot set headers; they are
# dropped before validation so they can reach neither extras nor error messages.
CREDENTIAL_KEYS = frozenset({"token", "secret"})

MODEL_CONFIG = ConfigDict(extra="ignore", frozen=True, strict=False, hide_input_in_errors=True)

# Annotated field types; PlainValidator replaces pydantic's own coercion so one
# clear message comes out instead of one per union member.
PositiveNumber = Annotated[Decimal, PlainValidator(positive)]
OptionalPositive = Annotated[Decimal | None, PlainValidator(optional(positive))]
OptionalPrice = Annotated[Decimal | None, PlainValidator(optional(price))]
RequiredText = Annotated[str, PlainValidator(required_text)]
OptionalText = Annotated[str, PlainValidator(optional_text)]
Symbol = Annotated[str, PlainValidator(symbol)]
OptionalSymbol = Annotated[str, PlainValidator(optional_symbol)]
AlertTime = Annotated[datetime | None, PlainValidator(optional(alert_time))]
Confidence = Annotated[float | None, PlainValidator(optional(unit_interval))]
OrderType = Annotated[str, PlainValidator(order_type)]
OptionalNonNegative = Annotated[Decimal | None, PlainValidator(optional(non_negative))]
OptionalNumber = Annotated[Decimal | None, PlainValidator(optional(number))]
# Part of a position an exit closes (50 = half of it).
OptionalPercent = Annotated[Decimal | None, PlainValidator(optional(percent))]
ACTIONS = {"buy": "buy", "sell": "sell", "close": "close", "close_all": "close_all",
           "cancel_all": "cancel_all"}
Action = Annotated[str, PlainValidator(choice(ACTIONS))]
# What close_all / cancel_all apply to; unset: the symbol when one is sent, else the account.
OptionalScope = Annotated[str | None, PlainValidator(optional(choice(
    {"symbol": "symbol", "account": "account"})))]
# Intents that name no order size and, with scope account, no symbol.
SWEEPS = frozenset({"close_all", "cancel_all"})
EXITS = frozenset({"close", "exit_long", "exit_short"})


def require_price_for(kind: str, price: Decimal | None) -> None:
    """Limit and stop orders cannot be priced without the alert's price."""
    if kind != "market" and price is None:
        raise AlertError("price", f"price: required for a {kind} order (orderType is '{kind}')")


def sweep_scope(action: str, symbol: str, scope: str | None) -> str:
    """The scope of an alert: ``close_all`` / ``cancel_all`` apply to ``scope`` when
    sent, else to the symbol when one is sent, else to the whole account. Every other
    action needs a symbol (raises AlertError naming it)."""
    if action not in SWEEPS:
        if scope is not None:
            raise AlertError("scope", f"scope: only for close_all and cancel_all, not {action}")
        if not symbol:
            raise AlertError("symbol", "symbol: required field is missing")
        return "symbol"
    return scope or ("symbol" if symbol else "account")


def check_exit_fields(action: str, percent: Decimal | None) -> None:
    """``percent`` (of the position) belongs to exits only."""
    if percent is not None and action not in EXITS:
        raise AlertError("percent", f"percent: only for close (part of the position to "
                                    f"close), not {action}")


def without_credentials(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload minus credential fields, matched case-insensitively."""
    return {k: v for k, v in payload.items() if k.lower() not in CREDENTIAL_KEYS}


def payload_keys(model: type[BaseModel]) -> frozenset[str]:
    """Every payload key a model reads, aliases included."""
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        alias = info.validation_alias or info.alias or name
        if isinstance(alias, AliasChoices):
            keys.update(c for c in alias.choices if isinstance(c, str))
        elif isinstance(alias, str):
            keys.add(alias)
    return frozenset(keys)


def extras_of(payload: Mapping[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """The fields a dialect does not define, kept verbatim for the user."""
    known = payload_keys(model)
    return {k: v for k, v in without_credentials(payload).items() if k not in known}


def check_value(field: str, check: Callable[[Any], T], value: Any) -> T:
    """Run one coercion outside a model, turning its reason into an AlertError."""
    try:
        return check(value)
    except ValueError as exc:
        raise AlertError(field, f"{field}: {exc}") from None


def validate(model: type[M], payload: Mapping[str, Any]) -> M:
    """Validate with ``model``; every problem is reported in one AlertError."""
    try:
        return model.model_validate(without_credentials(payload))
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        problems = [_describe(error) for error in errors]
        message = "; ".join(f"{f}: {why}" if f else why for f, why in problems)
        raise AlertError(problems[0][0], message) from None


def _describe(error: ErrorDetails) -> tuple[str, str]:
    field = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return field, "required field is missing"
    cause = error.get("ctx", {}).get("error")
    if error["type"] == "value_error" and cause is not None:
        return field, str(cause)
    msg = str(error["msg"])
    return field, msg[:1].lower() + msg[1:]
