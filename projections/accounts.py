"""Account state projection: a pure fold of registry and fill events."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec

from contracts.events import AccountOpened, AnyEvent, LegFilled, TradeExecuted
from domain.ledger import Book, apply_fill, marked


class AccountView(msgspec.Struct, kw_only=True):
    """What the API shows for one account."""

    account_id: str
    tenant_id: str
    name: str = ""
    broker: str = "paper"
    book: Book = msgspec.field(default_factory=Book)


class AccountsProjection:
    """Folds events into per-account views; remembers which accounts changed."""

    # The only event types apply() looks at: replay decodes no others.
    TYPES = frozenset(str(cls.__struct_config__.tag)
                      for cls in (AccountOpened, TradeExecuted, LegFilled))

    def __init__(self, views: dict[str, AccountView] | None = None) -> None:
        self.views: dict[str, AccountView] = views or {}
        self.changed: set[str] = set()

    def apply(self, event: AnyEvent) -> None:
        """Apply one event (events of other types are ignored)."""
        match event:
            case AccountOpened():
                if event.account_id in self.views:
                    return
                self.views[event.account_id] = AccountView(
                    account_id=event.account_id, tenant_id=event.tenant_id, name=event.name,
                    broker=event.broker,
                    book=Book(currency=event.currency, cash=event.starting_cash),
                )
                self.changed.add(event.account_id)
            case TradeExecuted() | LegFilled():
                fills = event.all_fills() if isinstance(event, TradeExecuted) else [event.fill]
                if not fills:
                    return  # a cancel_all: nothing traded
                view = self.views.get(event.account_id)
                if view is None:  # a fill for an account we never saw opened
                    view = AccountView(account_id=event.account_id, tenant_id=event.tenant_id,
                                       broker=event.broker)
                    self.views[event.account_id] = view
                for fill in fills:
                    apply_fill(view.book, fill.symbol, fill.side, fill.quantity,
                               fill.average_price, fill.fee)
                self.changed.add(event.account_id)
            case _:
                return

    def take_changed(self) -> dict[str, AccountView]:
        """Views changed since the last call (and forget them)."""
        out = {key: self.views[key] for key in self.changed}
        self.changed = set()
        return out


_view_encoder = msgspec.json.Encoder(decimal_format="string")
_view_decoder = msgspec.json.Decoder(AccountView)


def encode_view(view: AccountView) -> bytes:
    """Serialise a view for the read-model table."""
    return _view_encoder.encode(view)


def decode_view(data: bytes | str) -> AccountView:
    """Inverse of :func:`encode_view`."""
    return _view_decoder.decode(data)


def view_to_api(view: AccountView,
                market: Mapping[str, Decimal] | None = None) -> dict[str, Any]:
    """The JSON body of ``GET /api/v1/accounts/{id}``: positions marked at the
    ``market``'s last prices (as the broker snapshot marks them)."""
    book = marked(view.book, market or {})
    return {
        "account_id": view.account_id,
        "tenant_id": view.tenant_id,
        "name": view.name,
        "broker": view.broker,
        "currency": book.currency,
        "cash": str(book.cash),
        "equity": str(book.equity()),
        "realised_pnl": str(book.realised_pnl),
        "unrealised_pnl": _plain(book.unrealised_pnl()),
        # The paper broker lends nothing: opening exposure needs equity.
        "buying_power": str(book.equity()),
        "fees_paid": str(book.fees_paid),
        "fills": book.fills,
        "positions": [
            {
                "symbol": sym,
                "quantity": str(pos.quantity),
                "average_price": str(pos.average_price),
                "last_price": str(book.last_prices.get(sym, pos.average_price)),
                "unrealised_pnl": _plain(
                    (book.last_prices.get(sym, pos.average_price) - pos.average_price)
                    * pos.quantity),
            }
            for sym, pos in sorted(book.positions.items())
        ],
    }


def _plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros ("0", "12.5")."""
    return format(value.normalize(), "f") if value else "0"
