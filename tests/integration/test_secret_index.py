"""The secret index on a real store: written with the events, rebuilt from
the log, and filled on upgrade for keys created before it existed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from domain import AuditContext, recording_as
from projections.sql import KEYS_TABLE, SECRET_INDEX_TABLE
from service.wiring import Services
from tests.conftest import open_services


@pytest.fixture(autouse=True)
def as_alice() -> Iterator[None]:
    with recording_as(AuditContext("alice")):
        yield


def rotated_key(services: Services) -> tuple[Any, list[str]]:
    """A key with four secrets: created, reset, rolled twice."""
    ledger = services.ledger
    issued = ledger.create_key(permissions=["send"])
    secrets = [issued.dev_secret]
    secrets.append(ledger.reset_secret(issued.key.id).dev_secret)
    secrets.append(ledger.roll_secret(issued.key.id, 3600).dev_secret)
    secrets.append(ledger.roll_secret(issued.key.id, 600).dev_secret)
    return issued.key, secrets


def found(services: Services, secrets: list[str]) -> list[tuple[str, int, str]]:
    answers = []
    for secret in secrets:
        hit = services.secret_lookup.find(secret)
        assert hit is not None
        answers.append((str(hit.key_id), hit.rotation, hit.secret))
    return answers


def test_every_rotation_is_found_with_its_kind(services: Services) -> None:
    key, secrets = rotated_key(services)
    assert found(services, secrets) == [
        (str(key.id), 0, "retired"),
        (str(key.id), 1, "retired"),  # its grace ended with the second roll
        (str(key.id), 2, "previous"),
        (str(key.id), 3, "current"),
    ]
    assert services.secret_lookup.find("kls_never-issued") is None


def test_rebuild_recreates_the_same_index(services: Services) -> None:
    key, secrets = rotated_key(services)
    services.ledger.delete_key(key.id)
    before = found(services, secrets)
    services.ledger.ledger_recorder.rebuild()
    assert found(services, secrets) == before
    assert services.secret_lookup.find(secrets[-1]).status == "deleted"  # type: ignore[union-attr]


def test_upgrade_fills_an_index_that_predates_the_keys(
    services: Services, config: dict[str, Any]
) -> None:
    key, secrets = rotated_key(services)
    recorder = services.ledger.ledger_recorder
    table = recorder.dialect.table(SECRET_INDEX_TABLE)
    keys = recorder.dialect.table(KEYS_TABLE)
    # As a store written by the release before: no index rows, no grace columns.
    with recorder.write_transaction() as cursor:
        cursor.execute(f"DELETE FROM {table}")
        cursor.execute(f"ALTER TABLE {keys} DROP COLUMN previous_secret_hash")
        cursor.execute(f"ALTER TABLE {keys} DROP COLUMN previous_secret_expires_at")
    services.close()
    reopened = open_services(config)
    try:
        assert [kind for _, _, kind in found(reopened, secrets)] == [
            "retired",
            "retired",
            "previous",
            "current",
        ]
        view = reopened.ledger.read_model.key(key.id)
        assert view is not None
        assert view.previous_secret_expires_at is not None
    finally:
        reopened.close()
