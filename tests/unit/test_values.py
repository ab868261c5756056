"""Value rules of a key (api.md, "The key"): pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from domain.errors import InvalidValue
from domain.values import (
    DESCRIPTION_MAX_LENGTH,
    expired_at_epoch,
    ip_allowed,
    is_expired,
    networks_of,
    parse_description,
    parse_expiry,
    parse_ip_whitelist,
    parse_permissions,
)

# --------------------------------------------------------------------------
# description
# --------------------------------------------------------------------------


def test_description_none_is_empty() -> None:
    assert parse_description(None) == ""


@pytest.mark.parametrize(
    "value",
    [
        "",
        "payments backend, prod",
        "x" * DESCRIPTION_MAX_LENGTH,
        "é" * DESCRIPTION_MAX_LENGTH,
        "  leading and trailing spaces  ",
        "unicode ✓ ünïcödé 日本語",
    ],
    ids=["empty", "plain", "max-ascii", "max-non-ascii", "spaces", "unicode"],
)
def test_description_accepted_unchanged(value: str) -> None:
    assert parse_description(value) == value


def test_description_max_length_is_255() -> None:
    assert DESCRIPTION_MAX_LENGTH == 255


def test_description_of_256_characters_refused() -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_description("x" * 256)
    assert caught.value.field == "description"


@pytest.mark.parametrize(
    "value",
    [
        "line one\nline two",
        "carriage\rreturn",
        "windows\r\nline",
        "tab\tseparated",
        "nul\x00byte",
        "bell\x07",
        "escape\x1b[31m",
        "delete\x7f",
        "next line\x85",
        "c1\x9f",
        "line\u2028separator",
        "paragraph\u2029separator",
        "\n",
        "unpaired\ud800surrogate",
        "low\udfffsurrogate",
        "right-to-left\u202eoverride",
        "zero\u200dwidth joiner",
        "isolate\u2066x\u2069",
        "byte order\ufeffmark",
        "soft\u00adhyphen",
    ],
    ids=[
        "newline",
        "carriage-return",
        "crlf",
        "tab",
        "nul",
        "bell",
        "escape",
        "del",
        "nel",
        "c1-last",
        "line-separator",
        "paragraph-separator",
        "only-newline",
        "high-surrogate",
        "low-surrogate",
        "bidi-override",
        "zero-width-joiner",
        "bidi-isolates",
        "bom",
        "soft-hyphen",
    ],
)
def test_description_control_characters_refused(value: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_description(value)
    assert caught.value.field == "description"


@pytest.mark.parametrize(
    "value",
    [42, 1.5, True, b"bytes", ["a list"], {"a": "dict"}],
    ids=["int", "float", "bool", "bytes", "list", "dict"],
)
def test_description_non_string_refused(value: object) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_description(value)
    assert caught.value.field == "description"


# --------------------------------------------------------------------------
# permissions
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["send"], ("send",)),
        (["verify"], ("verify",)),
        (["send", "verify"], ("send", "verify")),
        (["verify", "send"], ("send", "verify")),
        (["send", "send"], ("send",)),
        (["verify", "send", "verify", "send"], ("send", "verify")),
        (("verify",), ("verify",)),
        ({"verify", "send"}, ("send", "verify")),
        ((p for p in ["verify", "send"]), ("send", "verify")),
    ],
    ids=[
        "send",
        "verify",
        "both",
        "sorted",
        "dedup",
        "dedup-and-sorted",
        "tuple",
        "set",
        "generator",
    ],
)
def test_permissions_normalised(values: object, expected: tuple[str, ...]) -> None:
    assert parse_permissions(values) == expected


def test_permissions_empty_refused() -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_permissions([])
    assert caught.value.field == "permissions"


@pytest.mark.parametrize(
    "values",
    [
        ["sms"],
        ["send", "admin"],
        ["SEND"],
        [" send"],
        [""],
        [None],
        [1],
        [["send"]],
    ],
    ids=[
        "unknown",
        "one-unknown-among-known",
        "wrong-case",
        "padded",
        "empty-name",
        "none",
        "int",
        "nested-list",
    ],
)
def test_permissions_unknown_refused(values: list[object]) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_permissions(values)
    assert caught.value.field == "permissions"


def test_permissions_unknown_named_in_message() -> None:
    with pytest.raises(InvalidValue, match="sms"):
        parse_permissions(["send", "sms"])


@pytest.mark.parametrize(
    "values",
    ["send", "send,verify", "", None, 1, True],
    ids=["bare-string", "comma-string", "empty-string", "none", "int", "bool"],
)
def test_permissions_not_a_list_refused(values: object) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_permissions(values)
    assert caught.value.field == "permissions"


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
# expiry
# --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""], ids=["none", "empty-string"])
def test_expiry_blank_never_expires(value: object, now: datetime) -> None:
    assert parse_expiry(value, now) is None


@pytest.mark.parametrize(
    "value", ["2099-01-31", date(2099, 1, 31)], ids=["text", "date-object"]
)
def test_expiry_bare_date_means_end_of_that_day_utc(
    value: object, now: datetime
) -> None:
    assert parse_expiry(value, now) == datetime(2099, 1, 31, 23, 59, 59, tzinfo=UTC)


def test_expiry_bare_date_of_today_is_accepted(now: datetime) -> None:
    today = now.replace(hour=12, minute=0, second=0, microsecond=0)
    assert parse_expiry(today.date().isoformat(), today) == today.replace(
        hour=23, minute=59, second=59
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2099-01-31T23:59:59Z", datetime(2099, 1, 31, 23, 59, 59, tzinfo=UTC)),
        ("2099-01-31t23:59:59z", datetime(2099, 1, 31, 23, 59, 59, tzinfo=UTC)),
        ("2099-01-31 23:59:59Z", datetime(2099, 1, 31, 23, 59, 59, tzinfo=UTC)),
        ("2099-01-31T23:59:59+00:00", datetime(2099, 1, 31, 23, 59, 59, tzinfo=UTC)),
        ("2099-01-31T23:59:59-00:00", datetime(2099, 1, 31, 23, 59, 59, tzinfo=UTC)),
        ("2099-01-31T23:59:59+02:00", datetime(2099, 1, 31, 21, 59, 59, tzinfo=UTC)),
        ("2099-01-31T22:30:00-05:30", datetime(2099, 2, 1, 4, 0, 0, tzinfo=UTC)),
        ("2099-12-31T23:00:00-01:00", datetime(2100, 1, 1, 0, 0, 0, tzinfo=UTC)),
    ],
    ids=[
        "z",
        "lowercase-t-z",
        "space-separator",
        "plus-zero",
        "minus-zero",
        "plus-two",
        "minus-five-thirty-crosses-day",
        "crosses-year",
    ],
)
def test_expiry_rfc3339_converted_to_utc(
    text: str, expected: datetime, now: datetime
) -> None:
    result = parse_expiry(text, now)
    assert result == expected
    assert result is not None
    assert result.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "2099-01-31T23:59:59.5Z",
        "2099-01-31T23:59:59.999999Z",
        "2099-01-31T23:59:59.000001Z",
        "2099-01-31T23:59:59.123+00:00",
    ],
    ids=["half", "micro-max", "micro-min", "millis-with-offset"],
)
def test_expiry_fractional_seconds_dropped(text: str, now: datetime) -> None:
    result = parse_expiry(text, now)
    assert result == datetime(2099, 1, 31, 23, 59, 59, tzinfo=UTC)
    assert result is not None
    assert result.microsecond == 0


def test_expiry_aware_datetime_converted_to_utc(now: datetime) -> None:
    value = datetime(2099, 6, 1, 12, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=9)))
    result = parse_expiry(value, now)
    assert result == datetime(2099, 6, 1, 3, 0, 0, tzinfo=UTC)
    assert result is not None
    assert result.utcoffset() == timedelta(0)
    assert result.microsecond == 0


@pytest.mark.parametrize(
    "value",
    [datetime(2099, 1, 31, 23, 59, 59), "2099-01-31T23:59:59"],
    ids=["datetime", "text"],
)
def test_expiry_without_time_zone_refused(value: object, now: datetime) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_expiry(value, now)
    assert caught.value.field == "expires_at"


@pytest.mark.parametrize(
    "delta",
    [timedelta(seconds=-1), timedelta(days=-1), timedelta(days=-365 * 30)],
    ids=["one-second-ago", "yesterday", "decades-ago"],
)
def test_expiry_in_the_past_refused(delta: timedelta, now: datetime) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_expiry(now + delta, now)
    assert caught.value.field == "expires_at"


@pytest.mark.parametrize(
    "text",
    ["2000-01-01", "2000-01-01T00:00:00Z", "1999-12-31T23:59:59+01:00"],
    ids=["date", "time", "offset"],
)
def test_expiry_text_in_the_past_refused(text: str, now: datetime) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_expiry(text, now)
    assert caught.value.field == "expires_at"


def test_expiry_bare_date_of_yesterday_refused(now: datetime) -> None:
    yesterday = (now - timedelta(days=1)).date().isoformat()
    with pytest.raises(InvalidValue) as caught:
        parse_expiry(yesterday, now)
    assert caught.value.field == "expires_at"


def test_expiry_exactly_now_refused() -> None:
    now = datetime(2030, 5, 17, 8, 30, 0, tzinfo=UTC)
    with pytest.raises(InvalidValue) as caught:
        parse_expiry("2030-05-17T08:30:00Z", now)
    assert caught.value.field == "expires_at"


def test_expiry_one_second_after_now_accepted() -> None:
    now = datetime(2030, 5, 17, 8, 30, 0, tzinfo=UTC)
    assert parse_expiry("2030-05-17T08:30:01Z", now) == now + timedelta(seconds=1)


@pytest.mark.parametrize(
    "text",
    [
        "2027-02-30",
        "2099-02-30",
        "2099-13-01",
        "2099-00-10",
        "2099-04-31",
        "2099-02-29",
        "2099-02-30T12:00:00Z",
        "2099-01-31T24:00:00Z",
        "2099-01-31T23:60:00Z",
        "2099-01-31T23:59:59+24:00",
    ],
    ids=[
        "feb-30-2027",
        "feb-30",
        "month-13",
        "month-0",
        "april-31",
        "feb-29-not-leap",
        "feb-30-with-time",
        "hour-24",
        "minute-60",
        "offset-24h",
    ],
)
def test_expiry_invalid_calendar_value_refused(text: str, now: datetime) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_expiry(text, now)
    assert caught.value.field == "expires_at"


@pytest.mark.parametrize(
    "text",
    [
        "tomorrow",
        "2099/01/31",
        "31-01-2099",
        "2099-1-31",
        "20990131",
        "2099-01-31T23:59Z",
        "2099-01-31T23:59:59+0200",
        "2099-01-31T23:59:59 Z",
        " 2099-01-31",
        "2099-01-31T23:59:59ZZ",
        "null",
    ],
    ids=[
        "word",
        "slashes",
        "day-first",
        "single-digit-month",
        "basic-format",
        "no-seconds",
        "offset-without-colon",
        "space-before-z",
        "leading-space",
        "double-z",
        "null-string",
    ],
)
def test_expiry_malformed_text_refused(text: str, now: datetime) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_expiry(text, now)
    assert caught.value.field == "expires_at"


@pytest.mark.parametrize(
    "value",
    [4_102_444_800, 4_102_444_800.0, True, ["2099-01-31"], {"at": "2099-01-31"}],
    ids=["epoch-int", "epoch-float", "bool", "list", "dict"],
)
def test_expiry_non_string_refused(value: object, now: datetime) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_expiry(value, now)
    assert caught.value.field == "expires_at"


# --------------------------------------------------------------------------
# is_expired: valid through the named second
# --------------------------------------------------------------------------

EXPIRES_AT = datetime(2030, 1, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expired"),
    [
        (EXPIRES_AT - timedelta(days=1), False),
        (EXPIRES_AT - timedelta(microseconds=1), False),
        (EXPIRES_AT, False),
        (EXPIRES_AT + timedelta(microseconds=999_999), False),
        (EXPIRES_AT + timedelta(seconds=1), True),
        (EXPIRES_AT + timedelta(days=1), True),
    ],
    ids=[
        "day-before",
        "just-before",
        "at-the-second",
        "last-microsecond",
        "next-second",
        "day-after",
    ],
)
def test_is_expired_boundary(now: datetime, expired: bool) -> None:
    assert is_expired(EXPIRES_AT, now) is expired


def test_is_expired_never_without_expiry() -> None:
    assert is_expired(None, datetime(9999, 12, 31, tzinfo=UTC)) is False


EXPIRES_AT_EPOCH = int(EXPIRES_AT.timestamp())


@pytest.mark.parametrize(
    ("now", "expired"),
    [
        (EXPIRES_AT_EPOCH - 86_400.0, False),
        (EXPIRES_AT_EPOCH - 0.000001, False),
        (float(EXPIRES_AT_EPOCH), False),
        (EXPIRES_AT_EPOCH + 0.999999, False),
        (EXPIRES_AT_EPOCH + 1.0, True),
        (EXPIRES_AT_EPOCH + 86_400.0, True),
    ],
    ids=[
        "day-before",
        "just-before",
        "at-the-second",
        "last-microsecond",
        "next-second",
        "day-after",
    ],
)
def test_expired_at_epoch_boundary(now: float, expired: bool) -> None:
    assert expired_at_epoch(EXPIRES_AT_EPOCH, now) is expired


def test_expired_at_epoch_never_without_expiry() -> None:
    assert expired_at_epoch(None, 253_402_300_799.0) is False


@pytest.mark.parametrize(
    "offset",
    [timedelta(0), timedelta(microseconds=999_999), timedelta(seconds=1)],
    ids=["at-the-second", "last-microsecond", "next-second"],
)
def test_expired_at_epoch_agrees_with_is_expired(offset: timedelta) -> None:
    now = EXPIRES_AT + offset
    assert expired_at_epoch(EXPIRES_AT_EPOCH, now.timestamp()) is is_expired(
        EXPIRES_AT, now
    )


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
