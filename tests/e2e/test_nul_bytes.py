"""A NUL byte anywhere a caller can put text: the same answer on both
stores, never a 503, and on PostgreSQL no connection dropped or opened."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask

from tests.conftest import open_app
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY
from tests.support.http import ApiClient
from tests.support.sql import POSTGRES_URL


def nul_basic() -> dict[str, str]:
    encoded = base64.b64encode(b"dev\x00key:secret").decode()
    return {"Authorization": f"Basic {encoded}"}


def send_nul_requests(api: ApiClient) -> list[tuple[str, int]]:
    auth = api.client.post(
        "/v1/auth",
        json={"api": "send", "client_ip": "203.0.113.9"},
        headers=nul_basic(),
    )
    return [
        ("auth", auth.status_code),
        ("q", api.get("/v1/keys?q=%00").status_code),
        ("q-inside", api.get("/v1/keys?q=pay%00ments").status_code),
        ("actor", api.get("/v1/audit?actor=%00").status_code),
    ]


EXPECTED = [("auth", 401), ("q", 422), ("q-inside", 422), ("actor", 422)]


def test_nul_bytes_get_the_same_answer_on_both_stores(api: ApiClient) -> None:
    api.create_key(description="payments")
    assert send_nul_requests(api) == EXPECTED
    refused = api.get("/v1/keys?q=%00").json
    assert refused["errors"] == {"q": ["must not contain control characters"]}
    assert api.get("/v1/audit?actor=%00").json["errors"]["actor"]


@pytest.fixture
def named_app(postgres_url: str) -> Iterator[tuple[Flask, str]]:
    name = f"kl_nul_{uuid.uuid4().hex[:10]}"
    app = open_app(
        {
            "database_url": f"{postgres_url}&application_name={name}",
            "secret_key": SECRET_KEY,
            "bootstrap_token": ADMIN_TOKEN,
            "log_level": "WARNING",
        }
    )
    yield app, name
    app.extensions["keyledger"].close()


def sessions(application_name: str) -> set[tuple[Any, ...]]:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, backend_start FROM pg_stat_activity "
            "WHERE application_name = %s",
            (application_name,),
        ).fetchall()
    return {tuple(row) for row in rows}


@pytest.mark.postgres
def test_nul_bytes_neither_fail_nor_churn_postgres_connections(
    named_app: tuple[Flask, str],
) -> None:
    app, name = named_app
    api = ApiClient(app.test_client())
    key = api.create_key(description="payments")
    # Warm up every connection the calls below use, then count them.
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 200
    assert send_nul_requests(api) == EXPECTED
    before = sessions(name)
    assert before, "the service's connections are not visible by name"

    answers = [send_nul_requests(api) for _ in range(50)]

    assert all(answer == EXPECTED for answer in answers)
    assert sessions(name) == before
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 200


@pytest.fixture
def behind_proxy(config: dict[str, Any]) -> Iterator[ApiClient]:
    app = open_app({**config, "trusted_proxy_hops": 1})
    yield ApiClient(app.test_client())
    app.extensions["keyledger"].close()


FORWARDED = [
    ("198.51.100.7", "198.51.100.7"),
    ("2001:DB8::7", "2001:db8::7"),
    ("198.51.100.7\x00", None),
    ("not-an-address", None),
    ("\u00e9" * 300, None),
]


def test_a_forwarded_address_is_recorded_only_when_it_is_an_address(
    behind_proxy: ApiClient,
) -> None:
    recorded = []
    for forwarded, _ in FORWARDED:
        response = behind_proxy.client.post(
            "/v1/keys",
            json={"permissions": ["send"]},
            headers={**behind_proxy.headers, "X-Forwarded-For": forwarded},
        )
        assert response.status_code == 201, response.json
        history = behind_proxy.get(f"/v1/keys/{response.json['id']}/history").json
        recorded.append([item["source_ip"] for item in history["items"]])
    assert recorded == [[expected] for _, expected in FORWARDED]
