"""Who may call what (api.md, "Who may call what"): the auditor reads, the
admin does everything, a revoked token stops at once, and bootstrapping
creates exactly one first admin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from service.operators import Role
from tests.conftest import open_app
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY
from tests.support.http import ApiClient, bearer

# (method, path under /v1/keys/{id}, body) for every call an auditor may not make.
ADMIN_ONLY = [
    ("PATCH", "", {"description": "auditor was here"}),
    ("GET", "/secret", None),
    ("POST", "/reset-secret", None),
    ("POST", "/disable", None),
    ("POST", "/enable", None),
    ("DELETE", "", None),
]
# The contract's success code for each of them (api.md, "Management").
ADMIN_ANSWER = {
    ("PATCH", ""): 200,
    ("GET", "/secret"): 200,
    ("POST", "/reset-secret"): 200,
    ("POST", "/disable"): 200,
    ("POST", "/enable"): 200,
    ("DELETE", ""): 204,
}


@pytest.fixture
def auditor(app: Flask, api: ApiClient) -> ApiClient:
    token = app.extensions["keyledger"].operators.create("audrey", "auditor")
    return api.as_token(token)


@pytest.fixture
def key(api: ApiClient) -> dict[str, Any]:
    return api.create_key(description="watched")


def test_auditor_lists_keys(auditor: ApiClient, key: dict[str, Any]) -> None:
    response = auditor.get("/v1/keys")
    assert response.status_code == 200
    assert [item["id"] for item in response.json["items"]] == [key["id"]]


def test_auditor_reads_details_without_the_secret(
    auditor: ApiClient, key: dict[str, Any]
) -> None:
    response = auditor.get(f"/v1/keys/{key['id']}")
    assert response.status_code == 200
    assert response.json["description"] == "watched"
    assert "dev_secret" not in response.json


def test_auditor_may_not_create(auditor: ApiClient, api: ApiClient) -> None:
    assert auditor.create().status_code == 403
    assert api.get("/v1/keys").json["items"] == []


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY)
def test_auditor_may_not_change_or_reveal(
    auditor: ApiClient,
    api: ApiClient,
    key: dict[str, Any],
    method: str,
    path: str,
    body: Any,
) -> None:
    response = auditor.client.open(
        f"/v1/keys/{key['id']}{path}", method=method, json=body, headers=auditor.headers
    )
    assert response.status_code == 403
    assert "dev_secret" not in response.get_data(as_text=True)
    assert api.get(f"/v1/keys/{key['id']}").json["version"] == 1


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY)
def test_admin_may_do_what_the_auditor_may_not(
    api: ApiClient, key: dict[str, Any], method: str, path: str, body: Any
) -> None:
    response = api.client.open(
        f"/v1/keys/{key['id']}{path}", method=method, json=body, headers=api.headers
    )
    assert response.status_code == ADMIN_ANSWER[(method, path)], response.json


def test_a_revoked_token_is_refused_on_its_very_next_request(
    app: Flask, auditor: ApiClient
) -> None:
    assert auditor.get("/v1/keys").status_code == 200
    app.extensions["keyledger"].operators.revoke("audrey")
    response = auditor.get("/v1/keys")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoking_one_operator_leaves_the_others(
    app: Flask, api: ApiClient, auditor: ApiClient
) -> None:
    app.extensions["keyledger"].operators.revoke("audrey")
    assert api.get("/v1/keys").status_code == 200


def test_an_events_actor_is_the_operator_who_caused_it(
    app: Flask, api: ApiClient, key: dict[str, Any]
) -> None:
    token = app.extensions["keyledger"].operators.create("bob", "admin")
    api.as_token(token).action(key["id"], "disable")
    history = app.extensions["keyledger"].ledger.read_model.history(key["id"])
    assert [(r.type, r.actor) for r in history] == [
        ("created", "admin"),
        ("disabled", "bob"),
    ]


# Bootstrap.


def sqlite_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "database_url": f"sqlite:///{tmp_path / 'boot.db'}",
        "secret_key": SECRET_KEY,
        "log_level": "WARNING",
        **overrides,
    }


def test_the_bootstrap_token_becomes_the_admins_token(api: ApiClient) -> None:
    # The `app` fixture was built with KEYLEDGER_BOOTSTRAP_TOKEN = ADMIN_TOKEN.
    assert api.create().status_code == 201


def test_a_second_start_on_the_same_store_creates_no_second_admin(
    config: dict[str, Any], app: Flask
) -> None:
    again = open_app({**config, "bootstrap_token": "klo_another-token-0123456789"})
    try:
        operators = again.extensions["keyledger"].operators.list()
        assert [(o.name, o.role) for o in operators] == [("admin", Role.ADMIN)]
        client = again.test_client()
        assert client.get("/v1/keys", headers=bearer(ADMIN_TOKEN)).status_code == 200
        refused = client.get("/v1/keys", headers=bearer("klo_another-token-0123456789"))
        assert refused.status_code == 401
    finally:
        again.extensions["keyledger"].close()


def test_without_a_bootstrap_token_one_is_generated_and_printed_once(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    first = open_app(sqlite_config(tmp_path))
    first.extensions["keyledger"].close()
    printed = capfd.readouterr().err
    token = next(
        line.split("token:")[1].strip()
        for line in printed.splitlines()
        if "token:" in line
    )
    second = open_app(sqlite_config(tmp_path))
    try:
        assert "token:" not in capfd.readouterr().err
        response = second.test_client().get("/v1/keys", headers=bearer(token))
        assert response.status_code == 200
    finally:
        second.extensions["keyledger"].close()
