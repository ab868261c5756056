"""Fixtures shared by every layer of tests.

Storage-facing tests run on both stores through the ``database_url``
fixture: a SQLite file in ``tmp_path`` and a fresh schema on a real
PostgreSQL server. Where no server answers, the PostgreSQL cases skip with a
message, unless KEYLEDGER_REQUIRE_POSTGRES=1 (as in CI) makes that a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.api.context import services_of
from service.app import create_app
from service.config import load_settings
from service.wiring import Services, build_services, prepare_store
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY
from tests.support.http import ApiClient
from tests.support.sql import POSTGRES_URL

REQUIRE_POSTGRES = os.environ.get("KEYLEDGER_REQUIRE_POSTGRES", "") not in ("", "0")
STORES = ["sqlite", "postgres"]

_postgres_reason: list[str | None] = []


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can (asked once)."""
    if not _postgres_reason:
        try:
            import psycopg

            with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _postgres_reason.append(None)
        except Exception as error:
            _postgres_reason.append(
                f"PostgreSQL not reachable at {POSTGRES_URL} ({type(error).__name__}); "
                "start one or set KEYLEDGER_TEST_POSTGRES_URL to run these cases"
            )
    return _postgres_reason[0]


def fresh_postgres_schema() -> Iterator[str]:
    """Yields the URL of a new, empty schema; drops it afterwards."""
    reason = postgres_unavailable()
    if reason is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"KEYLEDGER_REQUIRE_POSTGRES is set but {reason}")
        pytest.skip(reason)
    import psycopg

    schema = f"kl_test_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}schema={schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(store_kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of each kind."""
    if store_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'keyledger.db'}"
    else:
        yield from fresh_postgres_schema()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema, for tests that only make sense there."""
    yield from fresh_postgres_schema()


@pytest.fixture
def config(database_url: str) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "secret_key": SECRET_KEY,
        "bootstrap_token": ADMIN_TOKEN,
        "log_level": "WARNING",
    }


def open_services(config: dict[str, Any]) -> Services:
    """Services on the store ``config`` names, prepared as gunicorn's master
    prepares it (tables, catch-up, first admin)."""
    built = build_services(load_settings(config))
    try:
        prepare_store(built)
    except BaseException:
        built.close()
        raise
    return built


def open_app(config: dict[str, Any]) -> Flask:
    """A Flask app over a prepared store, as a gunicorn worker builds it."""
    open_services(config).close()
    return create_app(config)


@pytest.fixture
def services(config: dict[str, Any]) -> Iterator[Services]:
    built = open_services(config)
    yield built
    built.close()


@pytest.fixture
def app(config: dict[str, Any]) -> Iterator[Flask]:
    application = open_app(config)
    yield application
    services_of(application).close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def api(client: FlaskClient) -> ApiClient:
    return ApiClient(client)
