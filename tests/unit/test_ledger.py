"""Account maths: cash, average price, realised P&L, fees and equity."""

from __future__ import annotations

from decimal import Decimal as D

from domain.ledger import Book, Position, apply_fill


def test_buy_reduces_cash_and_opens_a_long_at_the_fill_price() -> None:
    book = Book(cash=D(1000))

    realised = apply_fill(book, "AAPL", "buy", D(2), D(100))

    assert realised == 0
    assert book.cash == D(800)
    assert book.positions == {"AAPL": Position(quantity=D(2), average_price=D(100))}
    assert book.last_prices == {"AAPL": D(100)}
    assert book.fills == 1


def test_sell_from_flat_adds_cash_and_opens_a_short() -> None:
    book = Book(cash=D(1000))

    apply_fill(book, "AAPL", "sell", D(3), D(50))

    assert book.cash == D(1150)
    assert book.position_quantity("AAPL") == D(-3)
    assert book.positions["AAPL"].average_price == D(50)


def test_fee_reduces_cash_on_buys_and_sells_and_is_counted() -> None:
    book = Book(cash=D(1000))

    apply_fill(book, "AAPL", "buy", D(1), D(100), fee=D("1.5"))
    apply_fill(book, "AAPL", "sell", D(1), D(100), fee=D("0.5"))

    assert book.cash == D(998)
    assert book.fees_paid == D(2)
    assert book.realised_pnl == 0  # fees are not part of realised P&L


def test_adding_to_a_long_moves_the_average_price() -> None:
    book = Book(cash=D(10_000))
    apply_fill(book, "AAPL", "buy", D(2), D(100))

    apply_fill(book, "AAPL", "buy", D(2), D(110))

    assert book.positions["AAPL"] == Position(quantity=D(4), average_price=D(105))
    assert book.cash == D(9580)
    assert book.last_prices["AAPL"] == D(110)


def test_adding_to_a_short_moves_the_average_price() -> None:
    book = Book(cash=D(0))
    apply_fill(book, "ES", "sell", D(1), D(100))

    apply_fill(book, "ES", "sell", D(3), D(120))

    assert book.positions["ES"] == Position(quantity=D(-4), average_price=D(115))


def test_reducing_a_long_realises_pnl_and_keeps_the_average() -> None:
    book = Book(cash=D(1000))
    apply_fill(book, "AAPL", "buy", D(4), D(100))

    realised = apply_fill(book, "AAPL", "sell", D(1), D(130))

    assert realised == D(30)
    assert book.realised_pnl == D(30)
    assert book.positions["AAPL"] == Position(quantity=D(3), average_price=D(100))
    assert book.cash == D(1000) - D(400) + D(130)


def test_closing_a_long_at_a_loss_removes_the_position() -> None:
    book = Book(cash=D(1000))
    apply_fill(book, "AAPL", "buy", D(2), D(100))

    realised = apply_fill(book, "AAPL", "sell", D(2), D(90))

    assert realised == D(-20)
    assert "AAPL" not in book.positions
    assert book.position_quantity("AAPL") == 0
    assert book.cash == D(980)
    assert book.equity() == D(980)


def test_covering_a_short_below_entry_realises_a_gain() -> None:
    book = Book(cash=D(0))
    apply_fill(book, "TSLA", "sell", D(5), D(200))

    realised = apply_fill(book, "TSLA", "buy", D(5), D(180))

    assert realised == D(100)
    assert book.positions == {}
    assert book.cash == D(100)


def test_partially_covering_a_short_above_entry_realises_a_loss() -> None:
    book = Book(cash=D(0))
    apply_fill(book, "TSLA", "sell", D(5), D(200))

    realised = apply_fill(book, "TSLA", "buy", D(2), D(210))

    assert realised == D(-20)
    assert book.positions["TSLA"] == Position(quantity=D(-3), average_price=D(200))


def test_flipping_long_to_short_realises_the_long_and_opens_the_rest_at_the_price() -> None:
    book = Book(cash=D(1000))
    apply_fill(book, "AAPL", "buy", D(2), D(100))
    apply_fill(book, "AAPL", "buy", D(2), D(110))  # 4 @ 105

    realised = apply_fill(book, "AAPL", "sell", D(6), D(120))

    assert realised == D(60)  # (120 - 105) * 4
    assert book.positions["AAPL"] == Position(quantity=D(-2), average_price=D(120))
    assert book.cash == D(1000) - D(420) + D(720)
    assert book.equity() == D(1300) - D(240)


def test_flipping_short_to_long_realises_the_short_and_opens_the_rest_at_the_price() -> None:
    book = Book(cash=D(0))
    apply_fill(book, "TSLA", "sell", D(2), D(100))

    realised = apply_fill(book, "TSLA", "buy", D(5), D(90))

    assert realised == D(20)  # (100 - 90) * 2 on a short
    assert book.positions["TSLA"] == Position(quantity=D(3), average_price=D(90))
    assert book.cash == D(200) - D(450)


def test_equity_marks_positions_at_last_prices_and_falls_back_to_average() -> None:
    book = Book(cash=D(1000))
    apply_fill(book, "AAPL", "buy", D(2), D(100))
    apply_fill(book, "TSLA", "sell", D(1), D(50))
    book.last_prices["AAPL"] = D(120)
    book.last_prices["TSLA"] = D(70)
    book.positions["MSFT"] = Position(quantity=D(1), average_price=D(300))  # never priced

    # cash 1000 - 200 + 50 = 850; AAPL 2*120; TSLA -1*70; MSFT 1*300
    assert book.equity() == D(850) + D(240) - D(70) + D(300)


def test_equity_of_an_empty_book_is_its_cash() -> None:
    assert Book(cash=D("12.5")).equity() == D("12.5")


def test_books_do_not_share_default_containers() -> None:
    first, second = Book(), Book()

    apply_fill(first, "AAPL", "buy", D(1), D(1))

    assert second.positions == {}
    assert second.last_prices == {}


def test_symbols_are_tracked_independently() -> None:
    book = Book(cash=D(1000))
    apply_fill(book, "AAPL", "buy", D(1), D(100))
    apply_fill(book, "TSLA", "sell", D(1), D(100))

    apply_fill(book, "AAPL", "sell", D(1), D(110))

    assert set(book.positions) == {"TSLA"}
    assert book.realised_pnl == D(10)
    assert book.fills == 3
