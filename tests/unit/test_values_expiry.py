"""Value rules of a key: the expiry, and being expired through the named
second. Pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from domain.errors import InvalidValue
from domain.values import (
    expired_at_epoch,
    is_expired,
    parse_expiry,
)

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
