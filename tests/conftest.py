"""Fixtures shared by every layer of tests.

Storage-facing tests run on both stores through the ``database_url``
fixture: a SQLite file in ``tmp_path`` and a fresh schema on a real
PostgreSQL server. Where no server answers, the PostgreSQL cases skip with a
message, unless KEYLEDGER_REQUIRE_POSTGRES=1 (as in CI) makes that a failure.
"""

from __future__ import annotations

import base64
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
from service.config import encode_key, load_settings
from service.wiring import Services, build_services, prepare_store

POSTGRES_URL = os.environ.get(
    "KEYLEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("KEYLEDGER_REQUIRE_POSTGRES", "") not in ("", "0")
ADMIN_TOKEN = "klo_test-admin-token-0123456789abcdefghijklmnop"
SECRET_KEY = encode_key(bytes(range(32)))
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


def _postgres_schema_url() -> Iterator[str]:
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
        yield from _postgres_schema_url()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema, for tests that only make sense there."""
    yield from _postgres_schema_url()


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


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(dev_key: str, dev_secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


class ApiClient:
    """Small helper for the calls tests repeat; each returns the response."""

    def __init__(self, client: FlaskClient, token: str = ADMIN_TOKEN) -> None:
        self.client = client
        self.headers = bearer(token)

    def as_token(self, token: str) -> ApiClient:
        return ApiClient(self.client, token)

    def create(self, **body: Any) -> Any:
        body.setdefault("permissions", ["send", "verify"])
        return self.client.post("/v1/keys", json=body, headers=self.headers)

    def create_key(self, **body: Any) -> dict[str, Any]:
        response = self.create(**body)
        assert response.status_code == 201, response.json
        return dict(response.json)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(
            path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )

    def patch(self, key_id: str, body: Any, **headers: str) -> Any:
        return self.client.patch(
            f"/v1/keys/{key_id}", json=body, headers={**self.headers, **headers}
        )

    def action(self, key_id: str, name: str, **headers: str) -> Any:
        return self.client.post(
            f"/v1/keys/{key_id}/{name}", headers={**self.headers, **headers}
        )

    def delete(self, key_id: str, **headers: str) -> Any:
        return self.client.delete(
            f"/v1/keys/{key_id}", headers={**self.headers, **headers}
        )

    def auth(
        self,
        dev_key: str,
        dev_secret: str,
        api: str = "send",
        client_ip: str = "203.0.113.9",
    ) -> Any:
        return self.client.post(
            "/v1/auth",
            json={"api": api, "client_ip": client_ip},
            headers=basic(dev_key, dev_secret),
        )


@pytest.fixture
def api(client: FlaskClient) -> ApiClient:
    return ApiClient(client)
