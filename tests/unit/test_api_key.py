"""The ApiKey aggregate: creation, key ids, status and the event type names.

Pure domain: events are collected from the aggregate, never stored.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain import (
    EVENT_TYPE_NAMES,
    ApiKey,
    AuditContext,
    InvalidValue,
    KeyStatus,
    key_id_for,
    recording_as,
)
from domain.api_key import DEV_KEY_NAMESPACE
from tests.unit.api_key_cases import (
    DEV_KEY,
    INITIAL,
    INITIAL_EXPIRY,
    MakeKey,
    own_fields,
)

# --------------------------------------------------------------------------
# create
# --------------------------------------------------------------------------


def test_create_records_one_created_event(make_key: MakeKey) -> None:
    new_key = make_key(
        description="payments backend, prod",
        expires_at="2099-01-31",
        ip_whitelist=["2001:DB8::7", "203.0.113.0/24", "203.0.113.0/24"],
        permissions=["verify", "send"],
    )
    events = new_key.collect_events()
    assert [type(e) for e in events] == [ApiKey.Created]
    created = events[0]
    assert own_fields(created) == {
        "dev_key",
        "description",
        "expires_at",
        "ip_whitelist",
        "permissions",
        "secret_hash",
        "sealed_secret",
    }
    assert created.originator_id == key_id_for(DEV_KEY)
    assert created.originator_version == 1
    assert created.dev_key == DEV_KEY
    assert created.description == "payments backend, prod"
    assert created.expires_at == INITIAL_EXPIRY
    assert created.ip_whitelist == ["203.0.113.0/24", "2001:db8::7"]
    assert created.permissions == ["send", "verify"]
    assert created.secret_hash == "hash-1"
    assert created.sealed_secret == "sealed-1"


def test_create_sets_initial_state(make_key: MakeKey) -> None:
    new_key = make_key(**INITIAL)
    assert new_key.id == key_id_for(DEV_KEY)
    assert new_key.version == 1
    assert new_key.dev_key == DEV_KEY
    assert new_key.description == "old"
    assert new_key.expires_at == INITIAL_EXPIRY
    assert new_key.ip_whitelist == ("203.0.113.0/24",)
    assert new_key.permissions == ("send",)
    assert new_key.secret_hash == "hash-1"
    assert new_key.sealed_secret == "sealed-1"
    assert new_key.enabled is True
    assert new_key.deleted is False


def test_create_defaults_to_no_description_no_expiry_any_ip(
    make_key: MakeKey,
) -> None:
    new_key = make_key(permissions=["send"])
    assert new_key.description == ""
    assert new_key.expires_at is None
    assert new_key.ip_whitelist == ()


def test_create_without_permissions_refused(make_key: MakeKey) -> None:
    with pytest.raises(InvalidValue) as caught:
        make_key(permissions=None)
    assert caught.value.field == "permissions"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"permissions": []}, "permissions"),
        ({"permissions": ["sms"]}, "permissions"),
        ({"permissions": "send"}, "permissions"),
        ({"description": "two\nlines"}, "description"),
        ({"description": "x" * 256}, "description"),
        ({"expires_at": "2000-01-01"}, "expires_at"),
        ({"expires_at": "2027-02-30"}, "expires_at"),
        ({"ip_whitelist": ["10.0.0.1/8"]}, "ip_whitelist"),
        ({"ip_whitelist": ["not-an-ip"]}, "ip_whitelist"),
        ({"dev_key": ""}, "dev_key"),
    ],
    ids=[
        "empty-permissions",
        "unknown-permission",
        "bare-string-permission",
        "multiline-description",
        "long-description",
        "past-expiry",
        "invalid-date",
        "host-bits",
        "garbage-ip",
        "empty-dev-key",
    ],
)
def test_create_with_invalid_value_refused(
    make_key: MakeKey, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidValue) as caught:
        make_key(**overrides)
    assert caught.value.field == field


# --------------------------------------------------------------------------
# key ids
# --------------------------------------------------------------------------


def test_key_id_is_uuid5_of_the_dev_key() -> None:
    key_id = key_id_for(DEV_KEY)
    assert key_id == uuid.uuid5(DEV_KEY_NAMESPACE, DEV_KEY)
    assert key_id.version == 5


def test_key_id_is_deterministic() -> None:
    assert key_id_for(DEV_KEY) == key_id_for(DEV_KEY)


def test_key_id_namespace_never_changes() -> None:
    # Ids already stored were derived with this namespace: pinned on purpose.
    assert uuid.UUID("8c5e2f43-6f4b-4a8e-9d59-1c1f3e0b7a21") == DEV_KEY_NAMESPACE
    assert key_id_for(DEV_KEY) == uuid.UUID("6d8ec005-04f7-55cb-a5a1-8ff1a2795ef1")


def test_different_dev_keys_have_different_ids() -> None:
    assert key_id_for(DEV_KEY) != key_id_for(DEV_KEY + "x")


def test_aggregate_id_is_the_key_id_of_its_dev_key(make_key: MakeKey) -> None:
    other = "dk_zyxwvutsrqponmlkjihg"
    assert make_key(dev_key=other).id == key_id_for(other)


# --------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------


@pytest.fixture
def expiring_key(make_key: MakeKey, now: datetime) -> ApiKey:
    return make_key(expires_at=now + timedelta(hours=1))


@pytest.mark.parametrize(
    ("after_expiry", "status"),
    [
        (None, KeyStatus.ENABLED),
        (timedelta(0), KeyStatus.ENABLED),
        (timedelta(microseconds=999_999), KeyStatus.ENABLED),
        (timedelta(seconds=1), KeyStatus.EXPIRED),
        (timedelta(days=365), KeyStatus.EXPIRED),
    ],
    ids=["now", "at-expiry", "last-microsecond", "next-second", "a-year-later"],
)
def test_status_of_enabled_key(
    expiring_key: ApiKey,
    now: datetime,
    after_expiry: timedelta | None,
    status: KeyStatus,
) -> None:
    assert expiring_key.expires_at is not None
    at = now if after_expiry is None else expiring_key.expires_at + after_expiry
    assert expiring_key.status(at) == status


@pytest.mark.parametrize(
    "later", [timedelta(0), timedelta(days=365)], ids=["now", "after-expiry"]
)
def test_status_of_disabled_key_is_disabled_even_when_expired(
    expiring_key: ApiKey, now: datetime, later: timedelta
) -> None:
    expiring_key.disable()
    assert expiring_key.status(now + later) == KeyStatus.DISABLED


def test_status_of_re_enabled_key_is_enabled(
    expiring_key: ApiKey, now: datetime
) -> None:
    expiring_key.disable()
    expiring_key.enable()
    assert expiring_key.status(now) == KeyStatus.ENABLED


def test_status_without_expiry_never_expires(make_key: MakeKey, now: datetime) -> None:
    assert make_key().status(now + timedelta(days=365 * 100)) == KeyStatus.ENABLED


def test_status_is_not_an_event(expiring_key: ApiKey, now: datetime) -> None:
    expiring_key.collect_events()
    expiring_key.status(now + timedelta(days=1))
    assert expiring_key.collect_events() == []


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (KeyStatus.ENABLED, "enabled"),
        (KeyStatus.DISABLED, "disabled"),
        (KeyStatus.EXPIRED, "expired"),
    ],
)
def test_status_values_are_the_contract_names(status: KeyStatus, text: str) -> None:
    assert status == text
    assert str(status) == text


# --------------------------------------------------------------------------
# event type names
# --------------------------------------------------------------------------


def _event_classes_defined_on_api_key() -> set[type]:
    return {
        value
        for value in vars(ApiKey).values()
        if isinstance(value, type)
        and issubclass(value, ApiKey.Event)
        and value is not ApiKey.Event
    }


def test_event_type_names_cover_every_event_class() -> None:
    assert set(EVENT_TYPE_NAMES) == _event_classes_defined_on_api_key()


def test_event_type_names_are_the_contract_names() -> None:
    assert sorted(EVENT_TYPE_NAMES.values()) == sorted(
        [
            "created",
            "description_changed",
            "expiry_changed",
            "ip_whitelist_changed",
            "permissions_changed",
            "secret_reset",
            "secret_revealed",
            "disabled",
            "enabled",
            "deleted",
        ]
    )


def test_every_event_class_carries_the_audit_fields() -> None:
    for event_class in _event_classes_defined_on_api_key():
        names = {f.name for f in dataclasses.fields(event_class)}
        assert {"actor", "source_ip", "request_id"} <= names, event_class.__name__


def test_event_times_never_go_back_even_when_the_clock_does() -> None:
    with recording_as(AuditContext("alice", "192.0.2.1", "r")):
        key = ApiKey.create(
            dev_key="k" * 24,
            secret_hash="h",
            sealed_secret="s",
            now=datetime.now(UTC),
            permissions=["send"],
        )
        # A writer whose clock runs an hour ahead recorded the last change.
        key.modified_on = key.modified_on + timedelta(hours=1)
        key.disable()
    created, disabled = key.collect_events()
    assert disabled.timestamp > created.timestamp + timedelta(minutes=59)
