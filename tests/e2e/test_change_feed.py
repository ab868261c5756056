"""``GET /v1/changes`` (api.md, "Change feed") and the ``service`` role
(api.md, "Operator role `service`") through the Flask test client, on SQLite
and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from projections.sql import AUDIT_TABLE
from service import cli
from service.api.context import services_of
from service.operators import OperatorError
from tests.support.credentials import SECRET_KEY
from tests.support.http import ApiClient, basic


@pytest.fixture
def service_api(app: Flask, api: ApiClient) -> ApiClient:
    token = services_of(app).operators.create("otp-cache", "service")
    return api.as_token(token)


@pytest.fixture
def auditor_api(app: Flask, api: ApiClient) -> ApiClient:
    token = services_of(app).operators.create("audrey", "auditor")
    return api.as_token(token)


def changes(caller: ApiClient, query: str = "") -> Any:
    return caller.get("/v1/changes" + query)


def test_without_after_it_answers_no_items_and_the_current_position(
    api: ApiClient, service_api: ApiClient
) -> None:
    empty = changes(service_api)
    assert empty.status_code == 200
    assert empty.json == {"items": [], "position": 0}
    api.create_key()
    api.create_key()
    assert changes(service_api).json == {
        "items": [],
        "position": changes(service_api, "?after=0").json["position"],
    }
    assert changes(service_api).json["position"] > 0


def test_every_audit_type_appears_with_its_dev_key_in_order(
    api: ApiClient, service_api: ApiClient
) -> None:
    start = changes(service_api).json["position"]
    key = api.create_key()
    other = api.create_key()
    api.patch(key["id"], {"description": "renamed"})
    api.patch(key["id"], {"ip_whitelist": ["203.0.113.0/24"]})
    api.patch(key["id"], {"permissions": ["verify"]})
    api.patch(key["id"], {"expires_at": "2099-01-01"})
    api.get(f"/v1/keys/{key['id']}/secret")
    api.action(key["id"], "reset-secret")
    api.action(key["id"], "disable")
    api.action(key["id"], "enable")
    api.delete(key["id"])
    api.action(other["id"], "disable")

    answer = changes(service_api, f"?after={start}")
    assert answer.status_code == 200
    items = answer.json["items"]
    assert [(item["dev_key"], item["type"]) for item in items] == [
        (key["dev_key"], "created"),
        (other["dev_key"], "created"),
        (key["dev_key"], "description_changed"),
        (key["dev_key"], "ip_whitelist_changed"),
        (key["dev_key"], "permissions_changed"),
        (key["dev_key"], "expiry_changed"),
        (key["dev_key"], "secret_revealed"),
        (key["dev_key"], "secret_reset"),
        (key["dev_key"], "disabled"),
        (key["dev_key"], "enabled"),
        (key["dev_key"], "deleted"),
        (other["dev_key"], "disabled"),
    ]
    assert {item["key_id"] for item in items} == {key["id"], other["id"]}
    positions = [item["position"] for item in items]
    assert positions == sorted(set(positions))
    assert positions[0] > start
    assert answer.json["position"] == positions[-1]
    assert set(items[0]) == {"position", "key_id", "dev_key", "type"}


def test_positions_are_the_audit_feed_s_order(
    api: ApiClient, service_api: ApiClient
) -> None:
    key = api.create_key()
    api.action(key["id"], "disable")
    audit = api.get("/v1/audit").json["items"]
    feed = changes(service_api, "?after=0").json["items"]
    assert [(i["key_id"], i["type"]) for i in feed] == [
        (i["key_id"], i["type"]) for i in audit
    ]


def test_asking_from_the_answered_position_gives_only_newer_changes(
    api: ApiClient, service_api: ApiClient
) -> None:
    key = api.create_key()
    first = changes(service_api, "?after=0").json
    again = changes(service_api, f"?after={first['position']}").json
    assert again == {"items": [], "position": first["position"]}
    api.action(key["id"], "disable")
    newer = changes(service_api, f"?after={first['position']}").json
    assert [item["type"] for item in newer["items"]] == ["disabled"]
    assert newer["position"] > first["position"]


def test_a_position_beyond_the_log_is_kept_so_positions_only_grow(
    api: ApiClient, service_api: ApiClient
) -> None:
    api.create_key()
    assert changes(service_api, "?after=1000000").json == {
        "items": [],
        "position": 1000000,
    }


def test_at_most_500_items_per_answer(api: ApiClient, service_api: ApiClient) -> None:
    key = api.create_key()
    for n in range(130):  # four events per change, one transaction each
        changed = api.patch(
            key["id"],
            {
                "description": f"take {n}",
                "expires_at": f"{2100 + n}-01-01",
                "ip_whitelist": [f"192.0.2.{n}"],
                "permissions": ["send"] if n % 2 else ["verify"],
            },
        )
        assert changed.status_code == 200
    page = changes(service_api, "?after=0").json
    assert len(page["items"]) == 500
    rest = changes(service_api, f"?after={page['position']}").json
    assert len(rest["items"]) == 1 + 130 * 4 - 500
    assert rest["items"][0]["position"] > page["items"][-1]["position"]


BAD_AFTER = [
    "?after=-1",
    "?after=",
    "?after=x",
    "?after=1.5",
    "?after=+3",
    "?after=%EF%BC%91",  # a fullwidth digit
    "?after=1&after=2",
    "?after=99999999999999999999",
]


def test_after_must_be_a_non_negative_integer(service_api: ApiClient) -> None:
    for query in BAD_AFTER:
        response = changes(service_api, query)
        assert response.status_code == 422, query
        assert list(response.json["errors"]) == ["after"], query
        assert "after" in response.json["message"]


def test_unknown_query_parameters_are_refused(service_api: ApiClient) -> None:
    response = changes(service_api, "?after=0&limit=5")
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["limit"]


def test_it_carries_no_settings_and_no_secrets(
    api: ApiClient, service_api: ApiClient
) -> None:
    key = api.create_key(description="private words", ip_whitelist=["192.0.2.1"])
    reset = api.action(key["id"], "reset-secret").json
    raw = service_api.get("/v1/changes?after=0").get_data(as_text=True)
    for private in (
        "private words",
        "192.0.2.1",
        key["dev_secret"],
        reset["dev_secret"],
    ):
        assert private not in raw


# Who may read it.


def test_admin_and_auditor_read_it_too(api: ApiClient, auditor_api: ApiClient) -> None:
    api.create_key()
    assert changes(api, "?after=0").status_code == 200
    assert len(changes(auditor_api, "?after=0").json["items"]) == 1


def test_without_a_token_it_answers_401(api: ApiClient) -> None:
    response = api.client.get("/v1/changes")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    forged = api.as_token("klo_nobody").get("/v1/changes")
    assert forged.status_code == 401
    assert "invalid_token" in forged.headers["WWW-Authenticate"]


def test_a_dev_key_s_basic_credentials_do_not_open_it(api: ApiClient) -> None:
    key = api.create_key()
    response = api.client.get(
        "/v1/changes", headers=basic(key["dev_key"], key["dev_secret"])
    )
    assert response.status_code == 401


def test_a_revoked_service_token_stops_at_once(
    app: Flask, service_api: ApiClient
) -> None:
    assert changes(service_api).status_code == 200
    services_of(app).operators.revoke("otp-cache")
    assert changes(service_api).status_code == 401


def test_only_get_is_allowed(service_api: ApiClient) -> None:
    response = service_api.client.post("/v1/changes", headers=service_api.headers)
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


SERVICE_FORBIDDEN = [
    ("GET", "/v1/keys", None),
    ("POST", "/v1/keys", {"permissions": ["send"]}),
    ("GET", "/v1/keys/{id}", None),
    ("PATCH", "/v1/keys/{id}", {"description": "cache was here"}),
    ("GET", "/v1/keys/{id}/secret", None),
    ("GET", "/v1/keys/{id}/history", None),
    ("POST", "/v1/keys/{id}/reset-secret", None),
    ("POST", "/v1/keys/{id}/disable", None),
    ("POST", "/v1/keys/{id}/enable", None),
    ("DELETE", "/v1/keys/{id}", None),
    ("GET", "/v1/audit", None),
    ("GET", "/v1/audit?format=csv", None),
]


def test_the_service_role_may_do_nothing_under_keys_or_audit(
    api: ApiClient, service_api: ApiClient
) -> None:
    key = api.create_key(description="kept")
    for method, path, body in SERVICE_FORBIDDEN:
        response = service_api.client.open(
            path.format(id=key["id"]),
            method=method,
            json=body,
            headers=service_api.headers,
        )
        assert response.status_code == 403, (method, path)
        assert "service" in response.json["message"]
    after = api.get(f"/v1/keys/{key['id']}").json
    assert (after["description"], after["status"]) == ("kept", "enabled")
    assert len(api.get("/v1/keys").json["items"]) == 1


def test_the_cli_creates_a_service_operator(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    app: Flask,
    database_url: str,
) -> None:
    monkeypatch.setenv("KEYLEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("KEYLEDGER_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("KEYLEDGER_LOG_LEVEL", "WARNING")
    assert cli.main(["operators", "create", "sms-cache", "--role", "service"]) == 0
    token = capsys.readouterr().out.split()[-1]
    assert token.startswith("klo_")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/changes", headers=headers).status_code == 200
    assert client.get("/v1/keys", headers=headers).status_code == 403


def test_an_unknown_role_names_all_three(app: Flask) -> None:
    with pytest.raises(OperatorError, match="'admin', 'auditor' or 'service'"):
        services_of(app).operators.create("x", "root")


def test_an_unknown_token_is_refused_before_its_query_is_checked(
    api: ApiClient,
) -> None:
    response = api.as_token("klo_nobody").get("/v1/changes?after=-1")
    assert response.status_code == 401


def test_an_unreadable_store_answers_503_and_recovers(
    app: Flask, api: ApiClient, service_api: ApiClient
) -> None:
    api.create_key()
    recorder = services_of(app).ledger.ledger_recorder
    table, away = (recorder.dialect.table(name) for name in (AUDIT_TABLE, "gone"))
    with recorder.write_transaction() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO gone")
    try:
        response = changes(service_api, "?after=0")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json["code"] == 503
    finally:
        with recorder.write_transaction() as cursor:
            cursor.execute(f"ALTER TABLE {away} RENAME TO {AUDIT_TABLE}")
    assert len(changes(service_api, "?after=0").json["items"]) == 1
