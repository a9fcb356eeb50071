"""Symbols and client order ids between the pipeline and ccxt venues (pure)."""

from __future__ import annotations

import re

import pytest

from contracts.orders import entry_order_id
from libs.brokers.ccxt_symbols import (
    ClientIdRule,
    listed_client_id,
    pipeline_symbol,
    venue_client_id,
    venue_symbol,
)
from libs.brokers.ccxt_venues import VENUES, overridden_urls


@pytest.mark.parametrize(
    ("symbol", "market", "venue", "unified"),
    [
        ("BTC/USDT", "spot", "binance", "BTC/USDT"),
        ("BTC/USDT", "perp", "binance", "BTC/USDT:USDT"),
        ("ETH/USDC", "perp", "bybit", "ETH/USDC:USDC"),
        ("BTC-PERP", "perp", "orderly", "BTC/USDC:USDC"),
        ("BTC/USDT", "perp", "orderly", "BTC/USDC:USDC"),
    ],
)
def test_venue_symbol(symbol: str, market: str, venue: str, unified: str) -> None:
    assert venue_symbol(symbol, market, venue) == unified  # type: ignore[arg-type]
    assert pipeline_symbol(unified, venue) == (
        "BTC-PERP" if venue == "orderly" else symbol)


@pytest.mark.parametrize("symbol", ["AAPL", "EUR/", "BTC/US DT", ""])
def test_what_is_no_crypto_pair_is_refused(symbol: str) -> None:
    with pytest.raises(ValueError, match="crypto pair"):
        venue_symbol(symbol, "spot", "binance")


def test_a_fitting_client_id_is_sent_as_it_is() -> None:
    assert venue_client_id("bot-1765119600-abcd1234", VENUES["binance"].client_ids) == \
        "bot-1765119600-abcd1234"


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx", "orderly"])
def test_a_long_client_id_becomes_a_stable_digest_that_keeps_its_leg(venue: str) -> None:
    rule = VENUES[venue].client_ids
    ours = "a-very-long-strategy-slug-name-1765119600-abcd1234-sl"
    shortened = venue_client_id(ours, rule)
    assert shortened == venue_client_id(ours, rule)  # the same on every retry
    assert len(shortened) <= rule.max_length and rule.pattern.fullmatch(shortened)
    assert shortened.endswith("sl")
    assert shortened != venue_client_id(ours.replace("-sl", "-tp"), rule)


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx", "orderly"])
def test_the_legs_of_a_long_entry_id_list_as_one_oco_group(venue: str) -> None:
    """An adapter that did not place the legs (the monitor's orphan cleanup, the
    executor after a restart) sees the venue's ids only: siblings must share their
    entry, or the older "group" is cancelled as replaced (a stop-loss lost)."""
    rule = VENUES[venue].client_ids
    entry = "a-very-long-strategy-slug-name-1765119600-abcd1234"
    listed = [listed_client_id(venue_client_id(f"{entry}-{leg}", rule), rule)
              for leg in ("sl", "tp")]
    assert [i[-3:] for i in listed] == ["-sl", "-tp"]
    assert entry_order_id(listed[0]) == entry_order_id(listed[1])


def test_okx_ids_lose_their_dashes() -> None:
    rule = ClientIdRule(32, re.compile(r"[A-Za-z0-9]+"), keep_dash=False)
    assert re.fullmatch(r"th[0-9a-f]+", venue_client_id("bot-1-abc", rule))


def test_okx_legs_of_one_entry_share_a_digest_and_list_as_its_legs() -> None:
    """Another process lists an OKX leg it did not place as a leg of its entry (the
    orphan cleanup must see both legs of one entry as one OCO group)."""
    rule = VENUES["okx"].client_ids
    entry = "gold-breakout-1765119600-abcd1234"
    stop, take = (venue_client_id(f"{entry}-{leg}", rule) for leg in ("sl", "tp"))
    assert stop[:-2] == take[:-2] and (stop[-2:], take[-2:]) == ("sl", "tp")
    assert len(stop) == 32 and rule.pattern.fullmatch(stop)
    listed = [listed_client_id(vid, rule) for vid in (stop, take)]
    assert [entry_order_id(i) for i in listed] == [stop[:-2]] * 2
    assert [i[-3:] for i in listed] == ["-sl", "-tp"]
    # What is listed maps back to what the venue knows (a cancel by the listed id).
    assert [venue_client_id(i, rule) for i in listed] == [stop, take]
    # Entries and other venues' ids are listed as they are.
    assert listed_client_id(venue_client_id(entry, rule), rule) == venue_client_id(entry, rule)
    binance = VENUES["binance"].client_ids
    assert listed_client_id("th" + "0" * 28 + "sl", binance) == "th" + "0" * 28 + "sl"


def test_overridden_urls_keep_paths_and_replace_the_origin() -> None:
    api = {"public": "https://api.binance.com/api/v3",
           "fapi": {"v1": "https://fapi.binance.com/fapi/v1"}, "n": None}
    assert overridden_urls(api, "http://127.0.0.1:9") == {
        "public": "http://127.0.0.1:9/api/v3",
        "fapi": {"v1": "http://127.0.0.1:9/fapi/v1"}, "n": None}
