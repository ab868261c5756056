"""Requests at the edges the contract names: an oversized /v1/auth body,
the client address recorded behind trusted proxies, and /healthz when the
store is gone."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from service.api.context import services_of
from tests.conftest import open_app
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY
from tests.support.http import ApiClient, basic
from tests.support.sql import postgres_admin, schema_of

AUTH_BODY_LIMIT = 4096  # bytes (the auth endpoint's own, far below 64 KiB)
PEER = "192.0.2.50"  # the address the TCP connection comes from


def auth_body(size: int) -> bytes:
    """A valid auth request padded with JSON whitespace to ``size`` bytes."""
    body = json.dumps({"api": "send", "client_ip": "203.0.113.9"}).encode()
    return body[:-1] + b" " * (size - len(body)) + body[-1:]


# /v1/auth body size.


def test_an_auth_body_at_the_limit_is_judged(api: ApiClient) -> None:
    key = api.create_key(permissions=["send"])
    response = api.client.post(
        "/v1/auth",
        data=auth_body(AUTH_BODY_LIMIT),
        content_type="application/json",
        headers=basic(key["dev_key"], key["dev_secret"]),
    )
    assert response.status_code == 200, response.json
    assert response.json["allowed"] is True


def test_an_auth_body_over_the_limit_is_413_before_any_credential_check(
    api: ApiClient,
) -> None:
    key = api.create_key(permissions=["send"])
    response = api.client.post(
        "/v1/auth",
        data=auth_body(AUTH_BODY_LIMIT + 1),
        content_type="application/json",
        headers=basic(key["dev_key"], key["dev_secret"]),
    )
    assert response.status_code == 413
    assert response.is_json
    assert "4096 bytes" in response.json["message"]
    assert key["dev_secret"] not in response.get_data(as_text=True)


# Trusted proxy hops -> source_ip of the recorded events.


@pytest.fixture
def sqlite_config(tmp_path: Path) -> dict[str, Any]:
    return {
        "database_url": f"sqlite:///{tmp_path / 'keyledger.db'}",
        "secret_key": SECRET_KEY,
        "bootstrap_token": ADMIN_TOKEN,
        "log_level": "WARNING",
    }


def recorded_source_ip(
    config: dict[str, Any], hops: int, forwarded_for: str | None
) -> str:
    app = open_app({**config, "trusted_proxy_hops": hops})
    try:
        client = app.test_client()
        headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
        api = ApiClient(client)
        created = client.post(
            "/v1/keys",
            json={"permissions": ["send"]},
            headers={**api.headers, **headers},
            environ_base={"REMOTE_ADDR": PEER},
        )
        assert created.status_code == 201, created.json
        history = api.get(f"/v1/keys/{created.json['id']}/history").json["items"]
    finally:
        services_of(app).close()
    return str(history[0]["source_ip"])


@pytest.mark.parametrize(
    ("hops", "forwarded_for", "recorded"),
    [
        (0, None, PEER),
        (0, "198.51.100.1", PEER),  # nobody trusted: a client cannot choose
        (1, None, PEER),
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "10.9.9.9, 198.51.100.1", "198.51.100.1"),  # the proxy's own entry
        (2, "10.9.9.9, 198.51.100.1, 203.0.113.4", "198.51.100.1"),
    ],
    ids=[
        "0-hops-no-header",
        "0-hops-ignores-header",
        "1-hop-no-header",
        "1-hop-single",
        "1-hop-takes-the-last",
        "2-hops-second-to-last",
    ],
)
def test_the_recorded_source_ip_follows_the_trusted_proxy_hops(
    sqlite_config: dict[str, Any], hops: int, forwarded_for: str | None, recorded: str
) -> None:
    assert recorded_source_ip(sqlite_config, hops, forwarded_for) == recorded


# /healthz with the store gone.


@pytest.fixture
def served(config: dict[str, Any]) -> Iterator[tuple[Flask, str]]:
    app = open_app({**config, "log_level": "CRITICAL"})
    yield app, config["database_url"]
    services_of(app).close()


def break_store(database_url: str) -> None:
    if database_url.startswith("sqlite:///"):
        # Overwritten in place, as a disk fault would: the open connections
        # find no database in the file any more.
        path = Path(database_url[len("sqlite:///") :])
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        size = path.stat().st_size
        with path.open("r+b") as file:
            file.write(b"not a database " * (size // 15 + 1))
    else:
        postgres_admin(f'DROP SCHEMA "{schema_of(database_url)}" CASCADE')


def test_healthz_is_503_when_the_store_is_gone(served: tuple[Flask, str]) -> None:
    app, database_url = served
    client = app.test_client()
    before = client.get("/healthz")
    break_store(database_url)
    after = client.get("/healthz")

    assert before.status_code == 200
    assert after.status_code == 503
    assert after.json["status"] == "unavailable"
    assert "Traceback" not in after.get_data(as_text=True)


def test_healthz_stays_503_while_the_store_is_gone(served: tuple[Flask, str]) -> None:
    app, database_url = served
    client = app.test_client()
    break_store(database_url)
    answers = [client.get("/healthz").status_code for _ in range(3)]
    assert answers == [503, 503, 503]
