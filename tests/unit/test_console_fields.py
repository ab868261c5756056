"""The console's key form: the domain's rules, every error at once, and
only the fields an operator changed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from werkzeug.datastructures import MultiDict

from domain import InvalidValue
from service.console.fields import KeyForm, parse_moment

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def form(**fields: object) -> KeyForm:
    data: MultiDict[str, str] = MultiDict()
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            data.add(name, str(item))
    return KeyForm.from_request(data)


def test_blank_fields_are_the_seed_defaults() -> None:
    values = form(permissions=["send", "verify"]).parsed(NOW)
    assert values == {
        "description": "",
        "expires_at": None,
        "ip_whitelist": (),
        "permissions": ("send", "verify"),
    }


def test_a_date_is_valid_through_its_last_second() -> None:
    values = form(expires_at="2027-01-31", permissions="send").parsed(NOW)
    assert values["expires_at"] == datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC)


def test_whitelist_lines_are_normalised_and_blank_lines_ignored() -> None:
    typed = form(ip_whitelist="\n 2001:db8::7 \n\n203.0.113.0/24\n", permissions="send")
    assert typed.parsed(NOW)["ip_whitelist"] == ("203.0.113.0/24", "2001:db8::7")


def test_every_bad_field_is_reported_with_its_label() -> None:
    typed = form(description="a\tb", expires_at="2020-01-01", ip_whitelist="x")
    assert typed.parsed(NOW) == {}
    assert typed.errors == {
        "description": "Description must be one line without control characters "
        "(newline and tab included).",
        "expires_at": "Expiration date must be in the future.",
        "ip_whitelist": "IP whitelist entry 'x' is not an IPv4/IPv6 address or "
        "CIDR network.",
        "permissions": "API permissions must name at least one API.",
    }


def test_only_changed_fields_are_parsed() -> None:
    loaded = KeyForm(expires_at="2020-01-01", permissions=("send",))
    typed = form(description="new", expires_at="2020-01-01", permissions="send")
    changed = typed.changed_from(loaded)
    assert changed == ("description",)
    assert typed.parsed(NOW, only=changed) == {"description": "new"}


def test_whitelist_order_and_blank_lines_are_no_change() -> None:
    loaded = KeyForm(ip_whitelist="203.0.113.0/24\n198.51.100.7")
    typed = KeyForm(ip_whitelist="203.0.113.0/24\n\n198.51.100.7\n")
    assert typed.changed_from(loaded) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T10:11:12", datetime(2026, 11, 27, 10, 11, 12, tzinfo=UTC)),
        ("2026-11-27T10:11", datetime(2026, 11, 27, 10, 11, tzinfo=UTC)),
        ("2026-11-27T10:11:12Z", datetime(2026, 11, 27, 10, 11, 12, tzinfo=UTC)),
        ("2026-11-27T12:11:12+02:00", datetime(2026, 11, 27, 10, 11, 12, tzinfo=UTC)),
        ("", None),
    ],
)
def test_moments_are_utc_unless_they_say_otherwise(
    text: str, expected: datetime | None
) -> None:
    assert parse_moment("as_of", text) == expected


def test_a_garbled_moment_names_its_field() -> None:
    with pytest.raises(InvalidValue) as raised:
        parse_moment("since", "last tuesday")
    assert raised.value.field == "since"
