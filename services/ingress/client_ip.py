"""Who is calling: the client address (behind trusted proxies) and allowlists."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

# TradingView's published webhook source addresses.
TRADINGVIEW_ADDRESSES = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")
PRESETS = {"tradingview": TRADINGVIEW_ADDRESSES}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(entries: Iterable[str]) -> list[Network]:
    """Parse addresses / CIDRs, expanding presets such as ``tradingview``."""
    out: list[Network] = []
    for entry in entries:
        for item in PRESETS.get(entry.strip().lower(), (entry.strip(),)):
            if item:
                out.append(ipaddress.ip_network(item, strict=False))
    return out


def _within(address: str, nets: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in nets)


def client_address(peer: str, forwarded_for: str | None, trusted: list[Network]) -> str:
    """The caller's address. ``X-Forwarded-For`` counts only when the direct peer is a
    trusted proxy; then the right-most address that is not a trusted proxy wins (the
    left part of the header is whatever the client chose to send)."""
    if not forwarded_for or not _within(peer, trusted):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not _within(hop, trusted):
            return hop
    return peer


@functools.lru_cache(maxsize=1024)
def _parsed(allowlist: tuple[str, ...]) -> list[Network]:
    return networks(allowlist)


def allowed(address: str, allowlist: list[str]) -> bool:
    """True when there is no allowlist, or the address is on it (each distinct list is
    parsed once, not on every request)."""
    return not allowlist or _within(address, _parsed(tuple(allowlist)))
