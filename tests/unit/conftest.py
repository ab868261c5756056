"""Shared fixtures for the unit tests. Nothing here touches a database,
a file or the network."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest


@pytest.fixture
def now() -> datetime:
    """One instant per test, passed wherever the domain takes ``now``."""
    return datetime.now(UTC)
