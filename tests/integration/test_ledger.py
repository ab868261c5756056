"""The KeyLedger application on a real store (SQLite file and PostgreSQL):
commands, optimistic concurrency across two processes' worth of ledgers, the
read model kept in step, and a store that survives being reopened."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from domain import ApiKey, AuditContext, recording_as
from projections.key_state import key_row
from service import ledger as ledger_module
from service.ledger import (
    KeyBusy,
    KeyChanges,
    KeyLedger,
    KeyNotFound,
    VersionMismatch,
)
from service.wiring import Services
from tests.conftest import open_services

ALICE = AuditContext("alice", "192.0.2.10", "req-1")
NEXT_YEAR = datetime.now(UTC).replace(microsecond=0) + timedelta(days=365)


@pytest.fixture(autouse=True)
def as_alice() -> Iterator[None]:
    with recording_as(ALICE):
        yield


@pytest.fixture
def ledger(services: Services) -> KeyLedger:
    return services.ledger


@pytest.fixture
def second_ledger(config: dict[str, Any]) -> Iterator[KeyLedger]:
    """Another worker's ledger on the same store."""
    other = open_services(config)
    yield other.ledger
    other.close()


def new_key(ledger: KeyLedger, **fields: Any) -> ApiKey:
    fields.setdefault("permissions", ["send"])
    return ledger.create_key(**fields).key


def change(**values: object) -> KeyChanges:
    return KeyChanges(dict(values))


def test_create_records_version_one_with_the_given_fields(ledger: KeyLedger) -> None:
    issued = ledger.create_key(
        description="billing",
        expires_at=NEXT_YEAR.isoformat(),
        ip_whitelist=["203.0.113.0/24"],
        permissions=["verify", "send"],
    )
    key = ledger.get_key(issued.key.id)
    assert (key.version, key.description, key.expires_at) == (1, "billing", NEXT_YEAR)
    assert key.ip_whitelist == ("203.0.113.0/24",)
    assert key.permissions == ("send", "verify")
    assert ledger.sealer.matches(issued.dev_secret, key.secret_hash)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"description": "renamed"}, {"description": "renamed"}),
        ({"expires_at": NEXT_YEAR.isoformat()}, {"expires_at": NEXT_YEAR}),
        ({"ip_whitelist": ["2001:db8::7"]}, {"ip_whitelist": ("2001:db8::7",)}),
        ({"permissions": ["verify"]}, {"permissions": ("verify",)}),
    ],
)
def test_update_changes_one_field_per_event(
    ledger: KeyLedger, values: dict[str, object], expected: dict[str, object]
) -> None:
    key = new_key(ledger)
    updated = ledger.update_key(key.id, change(**values))
    stored = ledger.get_key(key.id)
    assert stored.version == updated.version == 2
    assert {name: getattr(stored, name) for name in expected} == expected


def test_reset_secret_replaces_the_secret(ledger: KeyLedger) -> None:
    issued = ledger.create_key(permissions=["send"])
    reset = ledger.reset_secret(issued.key.id)
    key = ledger.get_key(issued.key.id)
    assert reset.dev_secret != issued.dev_secret
    assert ledger.sealer.matches(reset.dev_secret, key.secret_hash)
    assert not ledger.sealer.matches(issued.dev_secret, key.secret_hash)


def test_reveal_returns_the_current_secret_and_is_recorded(ledger: KeyLedger) -> None:
    issued = ledger.create_key(permissions=["send"])
    revealed = ledger.reveal_secret(issued.key.id)
    assert revealed.dev_secret == issued.dev_secret
    assert ledger.get_key(issued.key.id).version == 2


@pytest.mark.parametrize(
    ("commands", "enabled", "version"),
    [
        (["disable"], False, 2),
        (["disable", "disable"], False, 2),
        (["disable", "enable"], True, 3),
        (["enable"], True, 1),
    ],
)
def test_disable_and_enable_record_only_real_changes(
    ledger: KeyLedger, commands: list[str], enabled: bool, version: int
) -> None:
    key = new_key(ledger)
    for command in commands:
        getattr(ledger, f"{command}_key")(key.id)
    stored = ledger.get_key(key.id)
    assert (stored.enabled, stored.version) == (enabled, version)


def test_a_deleted_key_is_not_found(ledger: KeyLedger) -> None:
    key = new_key(ledger)
    ledger.delete_key(key.id)
    with pytest.raises(KeyNotFound):
        ledger.get_key(key.id)


def test_a_deleted_key_takes_no_further_command(ledger: KeyLedger) -> None:
    key = new_key(ledger)
    ledger.delete_key(key.id)
    with pytest.raises(KeyNotFound):
        ledger.update_key(key.id, change(description="too late"))


def test_update_with_a_stale_version_is_refused(ledger: KeyLedger) -> None:
    key = new_key(ledger)
    ledger.update_key(key.id, change(description="first"))
    with pytest.raises(VersionMismatch) as refused:
        ledger.update_key(key.id, change(description="stale"), expected_version=1)
    assert refused.value.current == 2
    assert ledger.get_key(key.id).description == "first"


def interleave(ledger: KeyLedger, other_write: Callable[[], object]) -> list[int]:
    """Makes ``ledger`` load a key, then lets ``other_write`` land before
    ``ledger`` saves: the race two workers run into, made deterministic.
    Returns the versions ``ledger`` loaded, one per attempt."""
    loaded: list[int] = []
    load = ledger.get_key

    def load_then_race(key_id: UUID, version: int | None = None) -> ApiKey:
        key = load(key_id, version)
        if version is None:
            loaded.append(key.version)
            if len(loaded) == 1:
                other_write()
        return key

    ledger.get_key = load_then_race  # type: ignore[method-assign]
    return loaded


def test_concurrent_changes_without_a_version_both_land(
    ledger: KeyLedger, second_ledger: KeyLedger
) -> None:
    key = new_key(ledger)
    loaded = interleave(
        ledger,
        lambda: second_ledger.update_key(key.id, change(description="from B")),
    )
    ledger.update_key(key.id, change(permissions=["verify"]))
    assert loaded == [1, 2]  # the first save conflicted and was retried
    for reader in (ledger, second_ledger):
        stored = reader.get_key(key.id)
        assert (stored.description, stored.permissions) == ("from B", ("verify",))
        assert stored.version == 3


def test_concurrent_changes_with_the_same_version_one_wins(
    ledger: KeyLedger, second_ledger: KeyLedger
) -> None:
    key = new_key(ledger)
    interleave(
        ledger,
        lambda: second_ledger.update_key(
            key.id, change(description="B wins"), expected_version=1
        ),
    )
    with pytest.raises(VersionMismatch) as refused:
        ledger.update_key(key.id, change(description="A loses"), expected_version=1)
    assert refused.value.current == 2
    stored = second_ledger.get_key(key.id)
    assert (stored.description, stored.version) == ("B wins", 2)


def test_a_change_that_loses_every_race_is_refused_as_busy(
    ledger: KeyLedger, second_ledger: KeyLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_module, "MAX_CHANGE_ATTEMPTS", 1)
    key = new_key(ledger)
    interleave(
        ledger,
        lambda: second_ledger.update_key(key.id, change(description="from B")),
    )
    with pytest.raises(KeyBusy):
        ledger.update_key(key.id, change(permissions=["verify"]))
    stored = second_ledger.get_key(key.id)
    assert (stored.description, stored.permissions, stored.version) == (
        "from B",
        ("send",),
        2,
    )


def test_the_second_ledger_sees_the_first_ledgers_changes_at_once(
    ledger: KeyLedger, second_ledger: KeyLedger
) -> None:
    key = new_key(ledger)
    second_ledger.get_key(key.id)  # now in its aggregate cache
    ledger.update_key(key.id, change(description="fresh"))
    assert second_ledger.get_key(key.id).description == "fresh"


def patching(**values: object) -> Callable[[KeyLedger, UUID], object]:
    return lambda lg, key_id: lg.update_key(key_id, change(**values))


COMMANDS: list[tuple[str, Callable[[KeyLedger, UUID], object]]] = [
    ("describe", patching(description="d")),
    ("expire", patching(expires_at="2099-01-01")),
    ("whitelist", patching(ip_whitelist=["10.0.0.0/8"])),
    ("permit", patching(permissions=["verify"])),
    ("several", patching(description="e", expires_at=None)),
    ("reset", lambda lg, key_id: lg.reset_secret(key_id)),
    ("reveal", lambda lg, key_id: lg.reveal_secret(key_id)),
    ("disable", lambda lg, key_id: lg.disable_key(key_id)),
    ("enable", lambda lg, key_id: lg.enable_key(key_id)),
]


def test_the_read_model_row_matches_the_key_after_each_command(
    ledger: KeyLedger,
) -> None:
    key = new_key(ledger, description="start", ip_whitelist=["192.0.2.1"])
    assert ledger.read_model.key(key.id) == key_row(ledger.get_key(key.id))
    for name, command in COMMANDS:
        command(ledger, key.id)
        assert ledger.read_model.key(key.id) == key_row(ledger.get_key(key.id)), name
    ledger.delete_key(key.id)
    assert ledger.read_model.key(key.id) is None


def test_reopening_the_store_gives_the_same_keys(config: dict[str, Any]) -> None:
    first = open_services(config)
    try:
        kept = new_key(first.ledger, description="kept")
        first.ledger.update_key(kept.id, change(permissions=["verify"]))
        gone = new_key(first.ledger, description="gone")
        first.ledger.delete_key(gone.id)
        before = key_row(first.ledger.get_key(kept.id))
    finally:
        first.close()
    reopened = open_services(config)
    try:
        assert key_row(reopened.ledger.get_key(kept.id)) == before
        assert reopened.ledger.read_model.key(kept.id) == before
        with pytest.raises(KeyNotFound):
            reopened.ledger.get_key(gone.id)
    finally:
        reopened.close()
