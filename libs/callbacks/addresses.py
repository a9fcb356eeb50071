"""Where a callback may go: the SSRF rules as pure decisions.

A callback URL is ``https``. Its address must be a public one: private, loopback,
link-local (cloud metadata lives there), shared, multicast, reserved and unspecified
addresses are refused, however they are written (an IPv4 address inside IPv6 is
judged as the IPv4 address). The rules run when an endpoint is registered or changed
*and* every time the dispatcher connects (it resolves the name, judges every address
and connects only to an address it judged), so a name that later resolves elsewhere
gains nothing.

One operator exception, for tests and local development: with
``TRADEHOOKS_CALLBACK_ALLOW_LOOPBACK`` a URL that names a loopback address literally
(``https://127.0.0.1:8443/``, ``http://[::1]/``) is allowed, over http too. A *name*
that resolves to loopback (``localhost`` included) never is.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2048
# Addresses of cloud metadata services outside the link-local range (AWS over IPv6,
# Alibaba in the shared range, Oracle): refused by the ranges anyway, named here so the
# refusal says what they are.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACK_NAMES = ("localhost", "localhost.")


def url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as written (scheme, host, credentials), or None.
    Addresses are judged by :func:`target_problem`."""
    if len(url) > MAX_URL_LENGTH:
        return f"a callback URL is at most {MAX_URL_LENGTH} characters"
    if not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):
        return "a callback URL is printable ASCII without spaces (encode the rest)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("https", "http"):
        return "a callback URL must be https"
    if not parts.hostname:
        return "a callback URL needs a host"
    if parts.username is not None or parts.password is not None:
        return "a callback URL may not carry a user or password (use the signature)"
    if parts.fragment:
        return "a callback URL has no fragment (#…)"
    if port == 0:
        return "port 0 is not a port"
    return None


def address_problem(address: IPAddress, allow_loopback: bool = False) -> str | None:
    """Why a callback may not connect to ``address``, or None when it may."""
    kind = _refused_kind(address, allow_loopback)
    return None if kind is None else f"{address} is {kind}"


def _refused_kind(address: IPAddress, allow_loopback: bool) -> str | None:
    """What kind of address refuses ``address`` ("a private address"), or None."""
    judged = _embedded_ipv4(address) or address
    if judged.is_loopback:
        return None if allow_loopback else "a loopback address"
    if judged in METADATA:
        return "a cloud metadata address"
    for kind, flag in (("unspecified", judged.is_unspecified),
                       ("link-local", judged.is_link_local), ("private", judged.is_private),
                       ("multicast", judged.is_multicast), ("reserved", judged.is_reserved)):
        if flag:
            return f"a {kind} address"
    if not judged.is_global:  # shared (100.64/10), documentation, benchmarking ...
        return "not a public address"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names literally (``10.0.0.1``, ``[::1]``), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def target_problem(url: str, allow_loopback: bool = False) -> str | None:
    """What refuses ``url`` before any name is resolved, or None: its syntax, its
    scheme, a literal address, a loopback name. A name that passes still has its
    addresses judged (:func:`resolved_problem`)."""
    problem = url_problem(url)
    if problem is not None:
        return problem
    parts: SplitResult = urlsplit(url)
    host = parts.hostname or ""
    literal = literal_address(host)
    loopback_literal = literal is not None and (
        _embedded_ipv4(literal) or literal).is_loopback
    if parts.scheme == "http" and not (allow_loopback and loopback_literal):
        return "a callback URL must be https (http only to a loopback address, when the " \
               "operator allows it)"
    if literal is not None:
        return address_problem(literal, allow_loopback)
    if host.lower() in _LOOPBACK_NAMES or host.lower().rstrip(".").endswith(".localhost"):
        return f"{host} is a loopback name"
    return None


def resolved_problem(host: str, addresses: list[str]) -> str | None:
    """Why a *name* may not be connected to, judged on every address it resolved to
    (one bad address refuses it all: an attacker's DNS could answer both), or None.
    The loopback exception never applies to names."""
    if not addresses:
        return f"{host} does not resolve"
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # fe80::1%eth0
        kind = _refused_kind(address, allow_loopback=False)
        if kind is not None:
            return f"{host} resolves to {address}, {kind}"
    return None
