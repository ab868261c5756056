"""Shared fixtures for the unit tests. Nothing here touches a database,
a file or the network."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from domain import ApiKey, AuditContext, recording_as
from tests.unit.api_key_cases import ACTOR, DEV_KEY, INITIAL, MakeKey


@pytest.fixture
def now() -> datetime:
    """One instant per test, passed wherever the domain takes ``now``."""
    return datetime.now(UTC)


# The ApiKey tests' keys (tests/unit/test_api_key*.py).


@pytest.fixture
def audit() -> Iterator[AuditContext]:
    """Record every event of the test as ``alice``."""
    with recording_as(ACTOR) as context:
        yield context


@pytest.fixture
def make_key(now: datetime, audit: AuditContext) -> MakeKey:
    """Create an ApiKey with sensible defaults; keyword arguments override them."""

    def make(**overrides: Any) -> ApiKey:
        arguments: dict[str, Any] = {
            "dev_key": DEV_KEY,
            "secret_hash": "hash-1",
            "sealed_secret": "sealed-1",
            "now": now,
            "permissions": ["send"],
        }
        arguments.update(overrides)
        return ApiKey.create(**arguments)

    return make


@pytest.fixture
def key(make_key: MakeKey) -> ApiKey:
    """A key created with INITIAL, its Created event already collected."""
    new_key = make_key(**INITIAL)
    new_key.collect_events()
    return new_key
