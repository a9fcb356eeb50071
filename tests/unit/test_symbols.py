"""Asset class and broker spelling of alert symbols."""

from __future__ import annotations

import pytest

from domain.symbols import classify_symbol, normalise_symbol


@pytest.mark.parametrize(
    ("symbol", "asset_class"),
    [
        # crypto
        ("BTCUSD", "crypto"),
        ("BTC/USD", "crypto"),
        ("BTC-USD", "crypto"),
        ("btc/usd", "crypto"),
        ("BINANCE:BTCUSDT", "crypto"),
        ("COINBASE:BTC-USD", "crypto"),
        ("KRAKEN:XBTUSD", "crypto"),
        ("ETHBTC", "crypto"),
        ("ETH/USDC", "crypto"),
        ("SOLUSD", "crypto"),
        ("DOGEUSDT", "crypto"),
        ("LINKUSD", "crypto"),
        ("BTCEUR", "crypto"),
        ("USDTUSD", "crypto"),
        ("PEPEUSDT", "crypto"),
        ("BINANCE:WIFUSDT", "crypto"),
        (" avax-usd ", "crypto"),
        # equity
        ("AAPL", "equity"),
        ("aapl", "equity"),
        ("F", "equity"),
        ("GOOGL", "equity"),
        ("NASDAQ:AAPL", "equity"),
        ("NYSE:BRK.B", "equity"),
        ("BRK.B", "equity"),
        ("BF.A", "equity"),
        ("BRK-B", "equity"),
        ("AMEX:SPY", "equity"),
        ("ARCA:GLD", "equity"),
        ("BATS:QQQ", "equity"),
        ("ETH", "equity"),  # a bare name is a ticker: pairs name their quote
        ("SETH", "equity"),
        # forex
        ("EURUSD", "forex"),
        ("EUR/USD", "forex"),
        ("EUR-USD", "forex"),
        ("EUR_USD", "forex"),
        ("OANDA:EURUSD", "forex"),
        ("OANDA:USD_JPY", "forex"),
        ("gbpjpy", "forex"),
        ("USDCNH", "forex"),
        ("FX:AUDNZD", "forex"),
        # unknown
        ("XAUUSD", "unknown"),
        ("XAU/USD", "unknown"),
        ("OANDA:XAUUSD", "unknown"),
        ("XAGUSD", "unknown"),
        ("USDUSD", "unknown"),
        ("ES1!", "unknown"),
        ("CME_MINI:ES1!", "unknown"),
        ("NASDAQ:BTCUSD", "unknown"),
        ("NASDAQ:BTCUSDT.P", "unknown"),
        ("OANDA:AAPL", "unknown"),
        ("GOOGLE", "unknown"),
        ("FOOUSD", "unknown"),
        ("BRK.BB", "unknown"),
        ("", "unknown"),
        ("   ", "unknown"),
        ("SPX 500", "unknown"),
    ],
)
def test_classify_symbol(symbol: str, asset_class: str) -> None:
    assert classify_symbol(symbol) == asset_class


@pytest.mark.parametrize(
    ("symbol", "spelling"),
    [
        ("BTCUSD", "BTC/USD"),
        ("BTC-USD", "BTC/USD"),
        ("btc/usd", "BTC/USD"),
        ("BINANCE:BTCUSDT", "BTC/USDT"),
        ("COINBASE:ETH-USDC", "ETH/USDC"),
        ("KRAKEN:XBTUSD", "BTC/USD"),
        ("ETHBTC", "ETH/BTC"),
        ("NASDAQ:AAPL", "AAPL"),
        ("aapl", "AAPL"),
        ("BRK.B", "BRK.B"),
        ("NYSE:BRK-B", "BRK.B"),
        ("OANDA:EUR_USD", "EUR/USD"),
        ("eurusd", "EUR/USD"),
        ("OANDA:XAUUSD", "XAUUSD"),
        ("CME_MINI:ES1!", "ES1!"),
    ],
)
@pytest.mark.parametrize("broker", ["alpaca", "paper", "Alpaca"])
def test_normalise_symbol(symbol: str, spelling: str, broker: str) -> None:
    assert normalise_symbol(symbol, broker) == spelling


def test_paper_and_alpaca_agree() -> None:
    for symbol in ("BINANCE:SOLUSDT", "nasdaq:msft", "BRK.B", "GBP/JPY", "XAUUSD"):
        assert normalise_symbol(symbol, "paper") == normalise_symbol(symbol, "alpaca")


def test_unknown_broker_is_refused() -> None:
    with pytest.raises(ValueError, match="ib"):
        normalise_symbol("AAPL", "ib")


@pytest.mark.parametrize(
    ("symbol", "asset_class"),
    [("BINANCE:BTCUSDT.P", "crypto"), ("BTC-PERP", "crypto"), ("eth_perp", "crypto"),
     ("PERP_BTC_USDC", "crypto"), ("BTCUSDT.P", "crypto"), ("OKX:BTC-USDT-SWAP", "crypto")],
)
def test_perpetual_spellings_are_crypto(symbol: str, asset_class: str) -> None:
    assert classify_symbol(symbol) == asset_class


@pytest.mark.parametrize(
    ("symbol", "broker", "spelling"),
    [
        ("BINANCE:BTCUSDT", "binance", "BTC/USDT"),
        ("BINANCE:BTCUSDT.P", "binance", "BTC/USDT"),
        ("BTC-PERP", "binance", "BTC/USDT"),
        ("BYBIT:ETHUSDT.P", "bybit", "ETH/USDT"),
        ("OKX:BTC-USDT", "okx", "BTC/USDT"),
        ("OKX:BTC-USDT-SWAP", "okx", "BTC/USDT"),
        ("ETH-USDT-SWAP", "okx", "ETH/USDT"),
        ("BTC-PERP", "orderly", "BTC-PERP"),
        ("btc-perp", "orderly", "BTC-PERP"),
        ("PERP_ETH_USDC", "orderly", "ETH-PERP"),
        ("BINANCE:SOLUSDT", "orderly", "SOL-PERP"),
        ("XBT-PERP", "orderly", "BTC-PERP"),
        ("BTC-PERP", "paper", "BTC-PERP"),
        ("PERP_BTC_USDC", "paper", "BTC/USDC"),
        ("NASDAQ:AAPL", "binance", "AAPL"),  # not crypto: left for the adapter to refuse
    ],
)
def test_crypto_venue_spellings(symbol: str, broker: str, spelling: str) -> None:
    assert normalise_symbol(symbol, broker) == spelling
