"""Value rules of a key: the IP whitelist and matching a client IP against it.
Pure functions, no I/O."""

from __future__ import annotations

import pytest

from domain.errors import InvalidValue
from domain.values import (
    ip_allowed,
    networks_of,
    parse_ip_whitelist,
)

# --------------------------------------------------------------------------
# IP whitelist
# --------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, [], ()], ids=["none", "list", "tuple"])
def test_ip_whitelist_empty_means_any(values: object) -> None:
    assert parse_ip_whitelist(values) == ()


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.0/24", "203.0.113.0/24"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("203.0.113.7/32", "203.0.113.7"),
        ("2001:db8::7", "2001:db8::7"),
        ("2001:DB8::7", "2001:db8::7"),
        ("2001:0db8:0000:0000:0000:0000:0000:0007", "2001:db8::7"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("2001:DB8:ABCD::/48", "2001:db8:abcd::/48"),
        ("2001:db8::7/128", "2001:db8::7"),
        ("::/0", "::/0"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("::FFFF:203.0.113.9", "203.0.113.9"),
        ("::ffff:203.0.113.0/120", "203.0.113.0/24"),
        (" 203.0.113.7 ", "203.0.113.7"),
    ],
    ids=[
        "ipv4",
        "ipv4-cidr",
        "ipv4-cidr-8",
        "ipv4-any",
        "ipv4-slash-32",
        "ipv6",
        "ipv6-upper",
        "ipv6-expanded",
        "ipv6-cidr",
        "ipv6-cidr-upper",
        "ipv6-slash-128",
        "ipv6-any",
        "ipv4-mapped",
        "ipv4-mapped-upper",
        "ipv4-mapped-cidr",
        "surrounding-spaces",
    ],
)
def test_ip_whitelist_entry_normalised(entry: str, expected: str) -> None:
    assert parse_ip_whitelist([entry]) == (expected,)


@pytest.mark.parametrize(
    "entry",
    [
        "10.0.0.1/8",
        "203.0.113.7/24",
        "2001:db8::7/64",
        "::ffff:203.0.113.9/120",
    ],
    ids=["ipv4", "ipv4-24", "ipv6", "ipv4-mapped"],
)
def test_ip_whitelist_host_bits_set_refused(entry: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_ip_whitelist([entry])
    assert caught.value.field == "ip_whitelist"
    assert entry in caught.value.message


@pytest.mark.parametrize(
    "entry",
    [
        "not-an-ip",
        "",
        "256.0.0.1",
        "203.0.113",
        "203.0.113.7/33",
        "2001:db8::7/129",
        "2001:db8:::7",
        "203.0.113.0/-1",
        "203.0.113.0/24/8",
        "example.com",
        "203.0.113.*",
        "203.0.113.1-203.0.113.9",
    ],
    ids=[
        "word",
        "empty",
        "octet-too-big",
        "too-few-octets",
        "ipv4-prefix-too-long",
        "ipv6-prefix-too-long",
        "triple-colon",
        "negative-prefix",
        "two-prefixes",
        "hostname",
        "wildcard",
        "range",
    ],
)
def test_ip_whitelist_garbage_refused_naming_entry(entry: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_ip_whitelist(["203.0.113.7", entry])
    assert caught.value.field == "ip_whitelist"
    assert repr(entry) in caught.value.message


@pytest.mark.parametrize(
    "entry", [None, 42, ["203.0.113.7"]], ids=["none", "int", "nested-list"]
)
def test_ip_whitelist_non_string_entry_refused(entry: object) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_ip_whitelist([entry])
    assert caught.value.field == "ip_whitelist"
    assert repr(entry) in caught.value.message


@pytest.mark.parametrize(
    "values", ["203.0.113.7", 42, True], ids=["bare-string", "int", "bool"]
)
def test_ip_whitelist_not_a_list_refused(values: object) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_ip_whitelist(values)
    assert caught.value.field == "ip_whitelist"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["203.0.113.7", "203.0.113.7"], ("203.0.113.7",)),
        (["203.0.113.7", "203.0.113.7/32"], ("203.0.113.7",)),
        (["2001:db8::7", "2001:DB8::7"], ("2001:db8::7",)),
        (["203.0.113.9", "::ffff:203.0.113.9"], ("203.0.113.9",)),
    ],
    ids=["same-text", "slash-32", "case", "ipv4-mapped"],
)
def test_ip_whitelist_duplicates_removed_after_normalising(
    values: list[str], expected: tuple[str, ...]
) -> None:
    assert parse_ip_whitelist(values) == expected


def test_ip_whitelist_sorted_ipv4_first_then_by_address_then_prefix() -> None:
    values = [
        "2001:db8::7",
        "203.0.113.0/24",
        "10.0.0.0/8",
        "2001:db8::/32",
        "203.0.113.0/25",
        "9.9.9.9",
    ]
    assert parse_ip_whitelist(values) == (
        "9.9.9.9",
        "10.0.0.0/8",
        "203.0.113.0/24",
        "203.0.113.0/25",
        "2001:db8::/32",
        "2001:db8::7",
    )


def test_ip_whitelist_sorted_numerically_not_textually() -> None:
    assert parse_ip_whitelist(["100.0.0.1", "20.0.0.1", "3.0.0.1"]) == (
        "3.0.0.1",
        "20.0.0.1",
        "100.0.0.1",
    )


def test_ip_whitelist_normalised_is_a_fixed_point() -> None:
    once = parse_ip_whitelist(["2001:DB8::7", "203.0.113.7/32", "::ffff:10.0.0.1"])
    assert parse_ip_whitelist(list(once)) == once


# --------------------------------------------------------------------------
# ip_allowed
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "client_ip",
    ["203.0.113.9", "2001:db8::7", "::ffff:203.0.113.9", "127.0.0.1"],
    ids=["ipv4", "ipv6", "ipv4-mapped", "loopback"],
)
def test_ip_allowed_empty_whitelist_allows_all(client_ip: str) -> None:
    assert ip_allowed(networks_of(parse_ip_whitelist([])), client_ip) is True


@pytest.mark.parametrize(
    ("whitelist", "client_ip", "allowed"),
    [
        (["203.0.113.0/24"], "203.0.113.0", True),
        (["203.0.113.0/24"], "203.0.113.9", True),
        (["203.0.113.0/24"], "203.0.113.255", True),
        (["203.0.113.0/24"], "203.0.114.0", False),
        (["203.0.113.0/24"], "203.0.112.255", False),
        (["203.0.113.7"], "203.0.113.7", True),
        (["203.0.113.7"], "203.0.113.8", False),
        (["10.0.0.0/8", "192.168.0.0/16"], "192.168.44.1", True),
        (["10.0.0.0/8", "192.168.0.0/16"], "172.16.0.1", False),
    ],
    ids=[
        "cidr-first",
        "cidr-inside",
        "cidr-last",
        "cidr-just-after",
        "cidr-just-before",
        "single-match",
        "single-neighbour",
        "second-entry",
        "none-of-several",
    ],
)
def test_ip_allowed_ipv4(whitelist: list[str], client_ip: str, allowed: bool) -> None:
    networks = networks_of(parse_ip_whitelist(whitelist))
    assert ip_allowed(networks, client_ip) is allowed


@pytest.mark.parametrize(
    ("whitelist", "client_ip", "allowed"),
    [
        (["2001:db8::/32"], "2001:db8::1", True),
        (["2001:db8::/32"], "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", True),
        (["2001:db8::/32"], "2001:db9::1", False),
        (["2001:db8::7"], "2001:DB8::7", True),
        (["2001:db8::7"], "2001:db8:0:0:0:0:0:7", True),
        (["2001:db8::7"], "2001:db8::8", False),
    ],
    ids=[
        "cidr-inside",
        "cidr-last",
        "cidr-outside",
        "single-uppercase-client",
        "single-expanded-client",
        "single-neighbour",
    ],
)
def test_ip_allowed_ipv6(whitelist: list[str], client_ip: str, allowed: bool) -> None:
    networks = networks_of(parse_ip_whitelist(whitelist))
    assert ip_allowed(networks, client_ip) is allowed


@pytest.mark.parametrize(
    ("whitelist", "client_ip", "allowed"),
    [
        (["203.0.113.0/24"], "::ffff:203.0.113.9", True),
        (["203.0.113.9"], "::ffff:203.0.113.9", True),
        (["203.0.113.9"], "::FFFF:CB00:7109", True),
        (["::ffff:203.0.113.9"], "203.0.113.9", True),
        (["::ffff:203.0.113.9"], "::ffff:203.0.113.9", True),
        (["203.0.113.0/24"], "::ffff:198.51.100.4", False),
        (["::/0"], "::ffff:203.0.113.9", True),
        (["2001:db8::/32"], "::ffff:203.0.113.9", False),
    ],
    ids=[
        "mapped-in-ipv4-cidr",
        "mapped-equals-ipv4-entry",
        "mapped-in-hex",
        "mapped-entry-matches-ipv4-client",
        "mapped-entry-matches-mapped-client",
        "mapped-outside",
        "mapped-in-any-ipv6",
        "mapped-not-in-other-ipv6",
    ],
)
def test_ip_allowed_ipv4_mapped_client(
    whitelist: list[str], client_ip: str, allowed: bool
) -> None:
    networks = networks_of(parse_ip_whitelist(whitelist))
    assert ip_allowed(networks, client_ip) is allowed


@pytest.mark.parametrize(
    ("whitelist", "client_ip"),
    [
        (["203.0.113.0/24"], "198.51.100.4"),
        (["203.0.113.0/24"], "2001:db8::7"),
        (["2001:db8::/32"], "203.0.113.9"),
        (["203.0.113.0/24", "2001:db8::/32"], "2001:db9::1"),
    ],
    ids=["ipv4-elsewhere", "ipv6-vs-ipv4-list", "ipv4-vs-ipv6-list", "mixed-list"],
)
def test_ip_allowed_not_in_list_refused(whitelist: list[str], client_ip: str) -> None:
    networks = networks_of(parse_ip_whitelist(whitelist))
    assert ip_allowed(networks, client_ip) is False


@pytest.mark.parametrize("entry", ["fe80::1%eth0", "fe80::%1/64"])
def test_ip_whitelist_zone_id_refused(entry: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        parse_ip_whitelist([entry])
    assert raised.value.field == "ip_whitelist"
    assert entry in raised.value.message
