"""ApiKey commands: one event each, no-op changes and invalid values record
nothing, a deleted key accepts nothing. Pure domain.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from domain import ApiKey, InvalidValue, KeyDeleted
from tests.unit.api_key_cases import (
    COMMANDS,
    INITIAL,
    Case,
    MakeKey,
    _prepared,
    own_fields,
    state_of,
)

# --------------------------------------------------------------------------
# commands: one event each, with the expected fields
# --------------------------------------------------------------------------


@pytest.mark.parametrize("case", COMMANDS.values(), ids=COMMANDS.keys())
def test_command_records_exactly_its_event(
    key: ApiKey, now: datetime, case: Case
) -> None:
    _prepared(key, case)
    case.act(key, now)
    events = key.collect_events()
    assert [type(e) for e in events] == [case.event_class]
    assert own_fields(events[0]) == set(case.fields)
    for name, value in case.fields.items():
        assert getattr(events[0], name) == value, name


@pytest.mark.parametrize("case", COMMANDS.values(), ids=COMMANDS.keys())
def test_command_event_takes_the_next_version(
    key: ApiKey, now: datetime, case: Case
) -> None:
    _prepared(key, case)
    before = key.version
    case.act(key, now)
    (event,) = key.collect_events()
    assert event.originator_id == key.id
    assert event.originator_version == before + 1
    assert key.version == before + 1


@pytest.mark.parametrize("case", COMMANDS.values(), ids=COMMANDS.keys())
def test_command_updates_state(key: ApiKey, now: datetime, case: Case) -> None:
    _prepared(key, case)
    expected = state_of(key) | case.state
    case.act(key, now)
    actual = state_of(key)
    for private in ("_version", "_modified_on"):
        actual.pop(private)
        expected.pop(private)
    assert actual == expected


@pytest.mark.parametrize("case", COMMANDS.values(), ids=COMMANDS.keys())
def test_command_return_value(key: ApiKey, now: datetime, case: Case) -> None:
    _prepared(key, case)
    assert case.act(key, now) == case.returns


def test_versions_increment_by_one_per_event_reveal_included(
    make_key: MakeKey, now: datetime
) -> None:
    new_key = make_key(**INITIAL)
    versions = [new_key.version]
    new_key.change_description("new")
    versions.append(new_key.version)
    new_key.reveal_secret()
    versions.append(new_key.version)
    new_key.reveal_secret()
    versions.append(new_key.version)
    new_key.reset_secret(secret_hash="hash-2", sealed_secret="sealed-2")
    versions.append(new_key.version)
    new_key.disable()
    versions.append(new_key.version)
    new_key.delete()
    versions.append(new_key.version)
    assert versions == [1, 2, 3, 4, 5, 6, 7]
    events = new_key.collect_events()
    assert [e.originator_version for e in events] == versions


def test_reveal_returns_the_current_sealed_secret(key: ApiKey) -> None:
    key.reset_secret(secret_hash="hash-2", sealed_secret="sealed-2")
    assert key.reveal_secret() == "sealed-2"


def test_reset_secret_records_even_with_the_same_values(key: ApiKey) -> None:
    key.reset_secret(secret_hash="hash-1", sealed_secret="sealed-1")
    assert [type(e) for e in key.collect_events()] == [ApiKey.SecretReset]


# --------------------------------------------------------------------------
# no-op changes record nothing
# --------------------------------------------------------------------------

NO_OPS: dict[str, Callable[[ApiKey, datetime], bool]] = {
    "same-description": lambda key, now: key.change_description("old"),
    "same-expiry-as-date": lambda key, now: key.change_expiry("2099-01-31", now),
    "same-expiry-as-time": lambda key, now: key.change_expiry(
        "2099-01-31T23:59:59Z", now
    ),
    "same-expiry-other-offset": lambda key, now: key.change_expiry(
        "2099-02-01T01:59:59+02:00", now
    ),
    "same-expiry-with-fraction": lambda key, now: key.change_expiry(
        "2099-01-31T23:59:59.999Z", now
    ),
    "same-whitelist": lambda key, now: key.change_ip_whitelist(["203.0.113.0/24"]),
    "same-whitelist-duplicated": lambda key, now: key.change_ip_whitelist(
        ["203.0.113.0/24", "203.0.113.0/24"]
    ),
    "same-whitelist-mapped": lambda key, now: key.change_ip_whitelist(
        ["::ffff:203.0.113.0/120"]
    ),
    "same-permissions": lambda key, now: key.change_permissions(["send"]),
    "same-permissions-duplicated": lambda key, now: key.change_permissions(
        ["send", "send"]
    ),
    "enable-when-enabled": lambda key, now: key.enable(),
}


@pytest.mark.parametrize("act", NO_OPS.values(), ids=NO_OPS.keys())
def test_no_op_change_records_nothing(
    key: ApiKey, now: datetime, act: Callable[[ApiKey, datetime], bool]
) -> None:
    before = state_of(key)
    assert act(key, now) is False
    assert key.collect_events() == []
    assert state_of(key) == before


BLANK_NO_OPS: dict[str, Callable[[ApiKey, datetime], bool]] = {
    "description-none-when-empty": lambda key, now: key.change_description(None),
    "description-empty-when-empty": lambda key, now: key.change_description(""),
    "expiry-none-when-none": lambda key, now: key.change_expiry(None, now),
    "expiry-empty-when-none": lambda key, now: key.change_expiry("", now),
    "whitelist-none-when-empty": lambda key, now: key.change_ip_whitelist(None),
    "whitelist-empty-when-empty": lambda key, now: key.change_ip_whitelist([]),
}


@pytest.mark.parametrize("act", BLANK_NO_OPS.values(), ids=BLANK_NO_OPS.keys())
def test_no_op_blank_change_records_nothing(
    make_key: MakeKey, now: datetime, act: Callable[[ApiKey, datetime], bool]
) -> None:
    blank_key = make_key(permissions=["send"])
    blank_key.collect_events()
    assert act(blank_key, now) is False
    assert blank_key.collect_events() == []
    assert blank_key.version == 1


def test_disable_when_disabled_records_nothing(key: ApiKey) -> None:
    key.disable()
    key.collect_events()
    version = key.version
    assert key.disable() is False
    assert key.collect_events() == []
    assert key.version == version
    assert key.enabled is False


def test_enable_when_enabled_records_nothing(key: ApiKey) -> None:
    assert key.enable() is False
    assert key.collect_events() == []
    assert key.version == 1
    assert key.enabled is True


# --------------------------------------------------------------------------
# invalid values change nothing
# --------------------------------------------------------------------------

INVALID_CHANGES: dict[str, tuple[Callable[[ApiKey, datetime], object], str]] = {
    "description-newline": (
        lambda key, now: key.change_description("a\nb"),
        "description",
    ),
    "description-not-string": (
        lambda key, now: key.change_description(42),
        "description",
    ),
    "expiry-past": (
        lambda key, now: key.change_expiry("2000-01-01", now),
        "expires_at",
    ),
    "expiry-naive": (
        lambda key, now: key.change_expiry("2099-01-31T00:00:00", now),
        "expires_at",
    ),
    "expiry-now": (
        lambda key, now: key.change_expiry(now.replace(microsecond=0), now),
        "expires_at",
    ),
    "whitelist-garbage": (
        lambda key, now: key.change_ip_whitelist(["203.0.113.7", "nope"]),
        "ip_whitelist",
    ),
    "whitelist-host-bits": (
        lambda key, now: key.change_ip_whitelist(["10.0.0.1/8"]),
        "ip_whitelist",
    ),
    "permissions-empty": (lambda key, now: key.change_permissions([]), "permissions"),
    "permissions-none": (lambda key, now: key.change_permissions(None), "permissions"),
    "permissions-unknown": (
        lambda key, now: key.change_permissions(["send", "admin"]),
        "permissions",
    ),
}


@pytest.mark.parametrize(
    ("act", "field"), INVALID_CHANGES.values(), ids=INVALID_CHANGES.keys()
)
def test_invalid_change_refused_and_records_nothing(
    key: ApiKey,
    now: datetime,
    act: Callable[[ApiKey, datetime], object],
    field: str,
) -> None:
    before = state_of(key)
    with pytest.raises(InvalidValue) as caught:
        act(key, now)
    assert caught.value.field == field
    assert key.collect_events() == []
    assert state_of(key) == before


# --------------------------------------------------------------------------
# a deleted key accepts nothing
# --------------------------------------------------------------------------

AFTER_DELETE: dict[str, Callable[[ApiKey, datetime], object]] = {
    name: case.act for name, case in COMMANDS.items()
} | {
    "no-op-description": lambda key, now: key.change_description("old"),
    "invalid-description": lambda key, now: key.change_description("a\nb"),
    "invalid-permissions": lambda key, now: key.change_permissions([]),
    "invalid-expiry": lambda key, now: key.change_expiry("2000-01-01", now),
    "enable-when-enabled": lambda key, now: key.enable(),
}


@pytest.mark.parametrize("act", AFTER_DELETE.values(), ids=AFTER_DELETE.keys())
def test_command_after_delete_raises_key_deleted(
    key: ApiKey, now: datetime, act: Callable[[ApiKey, datetime], object]
) -> None:
    key.delete()
    key.collect_events()
    before = state_of(key)
    with pytest.raises(KeyDeleted):
        act(key, now)
    assert key.collect_events() == []
    assert state_of(key) == before


def test_enable_after_delete_of_disabled_key_raises_key_deleted(
    key: ApiKey,
) -> None:
    key.disable()
    key.delete()
    with pytest.raises(KeyDeleted):
        key.enable()
