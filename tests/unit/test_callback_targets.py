"""Where a callback may go (SSRF): the static URL rules and the address rules."""

from __future__ import annotations

import ipaddress

import pytest

from libs.callbacks.addresses import (
    address_problem,
    resolved_problem,
    target_problem,
    url_problem,
)


@pytest.mark.parametrize("url", [
    "https://hooks.example.com/tradehooks",
    "https://93.184.216.34:8443/x?y=1",
    "https://[2606:4700:4700::1111]/",
])
def test_public_https_urls_pass(url: str) -> None:
    assert target_problem(url) is None


@pytest.mark.parametrize(("url", "says"), [
    ("http://hooks.example.com/", "must be https"),
    ("ftp://hooks.example.com/", "must be https"),
    ("https://user:pw@hooks.example.com/", "user or password"),
    ("https:///nohost", "needs a host"),
    ("https://hooks.example.com/#frag", "fragment"),
    ("https://hooks.example.com/a b", "without spaces"),
    ("https://hooks.example.com:99999/", "not a valid URL"),
    ("https://" + "a" * 2100 + ".com/", "at most 2048"),
    ("https://10.1.2.3/", "private"),
    ("https://172.16.0.1/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://127.0.0.1/", "loopback"),
    ("https://[::1]/", "loopback"),
    ("https://[::ffff:10.0.0.1]/", "private"),  # IPv4 inside IPv6 is judged as IPv4
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://169.254.169.254/latest/meta-data", "metadata"),
    ("https://[fd00:ec2::254]/", "metadata"),
    ("https://100.100.100.200/", "metadata"),
    ("https://169.254.1.1/", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://100.64.0.1/", "not a public address"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://224.0.0.1/", "multicast"),
    ("https://localhost:8443/", "loopback name"),
    ("https://api.localhost/", "loopback name"),
])
def test_refused_urls_say_why(url: str, says: str) -> None:
    problem = target_problem(url)
    assert problem is not None and says in problem, problem


def test_loopback_allowance_covers_literal_loopback_addresses_only() -> None:
    assert target_problem("https://127.0.0.1:8443/", allow_loopback=True) is None
    assert target_problem("http://127.0.0.1:8080/", allow_loopback=True) is None
    assert target_problem("http://[::1]:8080/", allow_loopback=True) is None
    # Names never profit, nor other private addresses, nor plain http elsewhere.
    assert target_problem("https://localhost:8443/", allow_loopback=True) is not None
    assert target_problem("https://10.0.0.1/", allow_loopback=True) is not None
    assert target_problem("http://93.184.216.34/", allow_loopback=True) is not None


def test_a_name_is_refused_when_any_address_it_resolves_to_is() -> None:
    assert resolved_problem("ok.example", ["93.184.216.34"]) is None
    problem = resolved_problem("evil.example", ["93.184.216.34", "127.0.0.1"])
    assert problem == "evil.example resolves to 127.0.0.1, a loopback address"
    assert resolved_problem("nowhere.example", []) == "nowhere.example does not resolve"
    assert resolved_problem("v6.example", ["fe80::1%eth0"]) is not None


def test_address_rules() -> None:
    ip = ipaddress.ip_address
    assert address_problem(ip("8.8.8.8")) is None
    assert address_problem(ip("127.0.0.2")) == "127.0.0.2 is a loopback address"
    assert address_problem(ip("127.0.0.2"), allow_loopback=True) is None
    assert address_problem(ip("64:ff9b::a00:1")) is not None  # NAT64 of 10.0.0.1
    assert address_problem(ip("2002:a00:1::")) is not None  # 6to4 of 10.0.0.1


def test_url_syntax_alone_leaves_addresses_to_the_target_rules() -> None:
    assert url_problem("https://10.0.0.1/") is None
    assert url_problem("http://hooks.example.com/") is None
