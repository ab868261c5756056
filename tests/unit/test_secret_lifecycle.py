"""Rolling a secret with a grace period, and restoring a deleted key.

Pure domain: events are collected from the aggregate, never stored.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain import (
    EVENT_TYPE_NAMES,
    ApiKey,
    AuditContext,
    InvalidValue,
    KeyDeleted,
    KeyNotDeleted,
    KeyStatus,
    recording_as,
)
from domain.values import GRACE_SECONDS_MAX

NOW = datetime(2030, 5, 1, 12, 0, 0, 750_000, tzinfo=UTC)
WHOLE_NOW = NOW.replace(microsecond=0)


@pytest.fixture(autouse=True)
def audit() -> Iterator[None]:
    with recording_as(AuditContext(actor="alice", source_ip="192.0.2.10")):
        yield


@pytest.fixture
def key() -> ApiKey:
    new_key = ApiKey.create(
        dev_key="dk_0123456789abcdefghij",
        secret_hash="hash-1",
        sealed_secret="sealed-1",
        now=NOW,
        description="payments",
        expires_at="2099-01-31",
        ip_whitelist=["203.0.113.0/24"],
        permissions=["send"],
    )
    new_key.collect_events()
    return new_key


def roll(key: ApiKey, n: int, grace: object, now: datetime = NOW) -> None:
    key.roll_secret(
        secret_hash=f"hash-{n}",
        sealed_secret=f"sealed-{n}",
        grace_seconds=grace,
        now=now,
    )


def replayed(key: ApiKey, events: list[Any]) -> ApiKey:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, ApiKey)
    return aggregate


def state_of(key: ApiKey) -> dict[str, Any]:
    state = dict(vars(key))
    state.pop("_pending_events")
    return state


# --------------------------------------------------------------------------
# roll
# --------------------------------------------------------------------------


def test_roll_records_one_secret_rolled_event_with_the_grace_end(key: ApiKey) -> None:
    roll(key, 2, 3600)
    (event,) = key.collect_events()
    assert isinstance(event, ApiKey.SecretRolled)
    assert EVENT_TYPE_NAMES[type(event)] == "secret_rolled"
    assert event.secret_hash == "hash-2"
    assert event.sealed_secret == "sealed-2"
    assert event.previous_secret_hash == "hash-1"
    assert event.previous_sealed_secret == "sealed-1"
    assert event.previous_secret_expires_at == WHOLE_NOW + timedelta(hours=1)
    assert event.earlier_previous_secret_expires_at is None
    assert event.actor == "alice"


def test_roll_makes_the_new_secret_current_and_keeps_the_old_one(
    key: ApiKey,
) -> None:
    roll(key, 2, 60)
    assert key.secret_hash == "hash-2"
    assert key.sealed_secret == "sealed-2"
    assert key.previous_secret_hash == "hash-1"
    assert key.previous_sealed_secret == "sealed-1"
    assert key.previous_secret_expires_at == WHOLE_NOW + timedelta(seconds=60)


def test_previous_secret_valid_until_the_end_of_grace_exclusive(
    key: ApiKey,
) -> None:
    roll(key, 2, 10)
    end = WHOLE_NOW + timedelta(seconds=10)
    assert key.previous_secret_valid(end - timedelta(microseconds=1))
    assert not key.previous_secret_valid(end)


def test_grace_zero_ends_the_previous_secret_at_once(key: ApiKey) -> None:
    roll(key, 2, 0)
    assert key.previous_secret_expires_at == WHOLE_NOW
    assert not key.previous_secret_valid(NOW)


@pytest.mark.parametrize("grace", [0, 1, GRACE_SECONDS_MAX])
def test_grace_bounds_are_inclusive(key: ApiKey, grace: int) -> None:
    roll(key, 2, grace)
    assert key.previous_secret_expires_at == WHOLE_NOW + timedelta(seconds=grace)


def test_grace_maximum_is_thirty_days() -> None:
    assert GRACE_SECONDS_MAX == 2_592_000


@pytest.mark.parametrize(
    "grace", [-1, GRACE_SECONDS_MAX + 1, 1.5, "60", None, True, [60]]
)
def test_invalid_grace_refused_naming_the_field(key: ApiKey, grace: object) -> None:
    with pytest.raises(InvalidValue) as caught:
        roll(key, 2, grace)
    assert caught.value.field == "grace_seconds"
    assert key.collect_events() == []
    assert key.secret_hash == "hash-1"


def test_second_roll_ends_the_earlier_grace_at_once(key: ApiKey) -> None:
    roll(key, 2, 3600)
    roll(key, 3, 60, NOW + timedelta(seconds=5))
    assert key.secret_hash == "hash-3"
    assert key.previous_secret_hash == "hash-2"  # hash-1 is gone: two at most
    assert key.previous_secret_expires_at == WHOLE_NOW + timedelta(seconds=65)
    second = key.collect_events()[-1]
    assert second.earlier_previous_secret_expires_at == WHOLE_NOW + timedelta(hours=1)


def test_reset_during_grace_ends_it_at_once(key: ApiKey) -> None:
    roll(key, 2, 3600)
    key.reset_secret(secret_hash="hash-3", sealed_secret="sealed-3")
    assert key.secret_hash == "hash-3"
    assert key.previous_secret_hash is None
    assert key.previous_sealed_secret is None
    assert key.previous_secret_expires_at is None
    assert not key.previous_secret_valid(NOW)


def test_roll_of_deleted_key_refused(key: ApiKey) -> None:
    key.delete()
    key.collect_events()
    with pytest.raises(KeyDeleted):
        roll(key, 2, 60)
    assert key.collect_events() == []


# --------------------------------------------------------------------------
# restore
# --------------------------------------------------------------------------


def test_restore_of_live_key_refused(key: ApiKey) -> None:
    with pytest.raises(KeyNotDeleted):
        key.restore()
    assert key.collect_events() == []


def test_restore_brings_the_key_back_disabled_with_its_settings(
    key: ApiKey,
) -> None:
    before = copy.deepcopy(state_of(key))
    key.delete()
    key.restore()
    deleted, restored = key.collect_events()
    assert isinstance(restored, ApiKey.Restored)
    assert EVENT_TYPE_NAMES[type(restored)] == "restored"
    assert restored.originator_version == deleted.originator_version + 1
    assert key.deleted is False
    assert key.enabled is False
    assert key.status(NOW) == KeyStatus.DISABLED
    for field in (
        "_id",
        "dev_key",
        "description",
        "expires_at",
        "ip_whitelist",
        "permissions",
        "secret_hash",
        "sealed_secret",
    ):
        assert state_of(key)[field] == before[field], field


def test_restored_event_carries_what_a_read_model_needs(key: ApiKey) -> None:
    key.delete()
    key.restore()
    restored = key.collect_events()[-1]
    assert restored.dev_key == key.dev_key
    assert restored.description == "payments"
    assert restored.expires_at == datetime(2099, 1, 31, 23, 59, 59, tzinfo=UTC)
    assert restored.ip_whitelist == ["203.0.113.0/24"]
    assert restored.permissions == ["send"]
    assert restored.secret_hash == "hash-1"
    assert restored.created_at == key.created_on


def test_restored_key_can_be_enabled_and_changed(key: ApiKey) -> None:
    key.delete()
    key.restore()
    assert key.enable() is True
    assert key.status(NOW) == KeyStatus.ENABLED
    assert key.change_description("back") is True


def test_second_restore_refused(key: ApiKey) -> None:
    key.delete()
    key.restore()
    with pytest.raises(KeyNotDeleted):
        key.restore()


def test_restore_ends_a_grace_that_was_running_at_deletion(key: ApiKey) -> None:
    roll(key, 2, 3600)
    key.delete()
    key.restore()
    assert key.secret_hash == "hash-2"
    assert key.previous_secret_hash is None
    assert key.previous_secret_expires_at is None


# --------------------------------------------------------------------------
# replay
# --------------------------------------------------------------------------


def test_replay_rebuilds_every_state_without_recomputing(key: ApiKey) -> None:
    created = ApiKey.create(
        dev_key="dk_replay_0123456789abc",
        secret_hash="hash-1",
        sealed_secret="sealed-1",
        now=NOW,
        permissions=["send"],
    )
    states = [copy.deepcopy(state_of(created))]
    steps = [
        lambda: roll(created, 2, 60),
        lambda: roll(created, 3, 120, NOW + timedelta(seconds=1)),
        lambda: created.reset_secret(secret_hash="hash-4", sealed_secret="s-4"),
        lambda: roll(created, 5, 30),
        lambda: created.delete(),
        lambda: created.restore(),
        lambda: created.enable(),
    ]
    for step in steps:
        step()
        states.append(copy.deepcopy(state_of(created)))
    events = created.collect_events()
    for count, expected in enumerate(states, start=1):
        assert state_of(replayed(created, events[:count])) == expected, count
