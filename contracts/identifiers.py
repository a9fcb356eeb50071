"""The shape of every identifier that crosses the edge: its characters and its length.

One place for all of them, so every route, credential parser, model and registry
lookup checks the same thing, before any lookup. Ids end up in NATS subjects and KV
keys, and nats-server answers a protocol line over its ``max_control_line`` (4 KiB
by default) with ``-ERR``, after which nats-py closes the connection for good: no
identifier may ever get near that. Record ids (tenant, account, strategy) and slugs
use only characters that are valid subject tokens as they are, so the subject of a
record is its id (``contracts.subjects.token`` changes nothing) and two ids can
never share a subject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Shape:
    """What one kind of identifier may look like."""

    name: str  # how answers name it: "tenant id"
    chars: str  # a regex character class body, e.g. "A-Za-z0-9_-"
    max_length: int
    described: str  # the characters in words, for error messages
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", re.compile(self.pattern))

    @property
    def pattern(self) -> str:
        """An anchored regular expression of the whole shape (pydantic, OpenAPI)."""
        return f"^[{self.chars}]{{1,{self.max_length}}}$"

    @property
    def pattern_or_empty(self) -> str:
        """:attr:`pattern`, or the empty string (an optional id the server fills in)."""
        return f"^[{self.chars}]{{0,{self.max_length}}}$"

    def matches(self, value: object) -> bool:
        """True when ``value`` is a string of this shape."""
        return isinstance(value, str) and self._regex.match(value) is not None

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not of this shape (never echoing it), or None."""
        if not isinstance(value, str) or not value:
            return f"a {self.name} is required"
        if len(value) > self.max_length:
            return f"a {self.name} is at most {self.max_length} characters"
        if not self.matches(value):
            return f"a {self.name} is {self.described}"
        return None


_RECORD = "A-Za-z0-9_-"
_RECORD_WORDS = "letters, digits, '-' or '_'"
# Printable ASCII without the space: what a sender's own ids and tickers use.
_VISIBLE = "!-~"

TENANT_ID = Shape("tenant id", _RECORD, 64, _RECORD_WORDS)
ACCOUNT_ID = Shape("account id", _RECORD, 64, _RECORD_WORDS)
STRATEGY_ID = Shape("strategy id", _RECORD, 64, _RECORD_WORDS)
# A strategy's URL name, unique within its tenant (``/webhook/{tenant}/{slug}``).
SLUG = Shape("slug", _RECORD, 64, _RECORD_WORDS)
# A tenant's callback endpoint (``cb-<hex>``) and one delivery to it (``dlv-<hex>``).
CALLBACK_ID = Shape("callback id", _RECORD, 64, _RECORD_WORDS)
DELIVERY_ID = Shape("delivery id", _RECORD, 64, _RECORD_WORDS)
# ``thk_<id>_<secret>``: the id part (``secrets.token_hex(6)`` today).
API_KEY_ID = Shape("API key id", "A-Za-z0-9", 32, "letters and digits")
# Signal ids are UUIDs; registry and security trails use ``kind:id`` correlations.
SIGNAL_ID = Shape("signal id", "A-Za-z0-9:_.=-", 128, "letters, digits, ':', '.', '=', '-' "
                  "or '_'")
# Standard Webhooks ``webhook-id``: the sender's idempotency key (hashed, never a key).
WEBHOOK_ID = Shape("webhook-id", " -~", 256, "printable ASCII")
SYMBOL = Shape("symbol", _VISIBLE, 40, "visible ASCII")
# Free text, but strategy names are looked up by name (a KV index key): bounded.
NAME = Shape("name", r"\s\S", 128, "any text")
# Any presented secret, API key or JWT (identity providers' JWTs run to a few KiB).
# Credentials are hashed or parsed, never put into a subject or key as they are.
CREDENTIAL = Shape("credential", _VISIBLE, 8192, "visible ASCII")


def namespace_of(record_id: str) -> str:
    """The tenant namespace a record id is in: everything before its last '-' (an id
    without one, or ending in one, is in no tenant's namespace: "").

    Record ids are global. A tenant key may choose only ids of its own namespace,
    ``<tenant>-<name>`` with no '-' in ``<name>``; since the namespace is read up to the
    *last* '-', tenant ``acme``'s ids (``acme-x``) and tenant ``acme-x``'s ids
    (``acme-x-y``) can never be the same, so no tenant can find out, by creating a
    record, which ids another tenant uses."""
    namespace, sep, name = record_id.rpartition("-")
    return namespace if sep and namespace and name else ""


def tenant_slug(tenant_id: str, slug: str) -> str:
    """The tenant-qualified name of a strategy: ``<tenant>/<slug>`` (unique everywhere,
    unlike a slug alone). A JWT's ``sub`` may name a strategy this way."""
    return f"{tenant_id}/{slug}"


def split_tenant_slug(value: str) -> tuple[str, str] | None:
    """``(tenant, slug)`` of a tenant-qualified name, or None when ``value`` is not one."""
    tenant, sep, slug = value.partition("/")
    if not sep or not TENANT_ID.matches(tenant) or not SLUG.matches(slug):
        return None
    return tenant, slug
