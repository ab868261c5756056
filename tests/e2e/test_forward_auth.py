"""``/v1/auth/forward`` (api.md, "Forward auth for gateways") through the
Flask test client, on SQLite and PostgreSQL: the decision of ``/v1/auth``
from headers alone, any method and any path below it, the identity and the
reason in response headers, and the client address by the
KEYLEDGER_TRUSTED_PROXY_HOPS rule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from projections.sql import KEYS_TABLE
from service.api.context import services_of
from tests.conftest import open_app
from tests.support.http import ApiClient, basic

CLIENT_IP = "203.0.113.9"
BACK_THEN = datetime(2020, 1, 1, tzinfo=UTC)
PASSED_EXPIRY = "2020-06-30T12:00:00Z"
IDENTITY_HEADERS = (
    "X-Keyledger-Key-Id",
    "X-Keyledger-Dev-Key",
    "X-Keyledger-Permissions",
)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def forward(
    client: FlaskClient,
    headers: dict[str, str],
    *,
    api: str | None = "send",
    method: str = "GET",
    path: str = "/v1/auth/forward",
    client_ip: str = CLIENT_IP,
    forwarded_for: str | None = None,
) -> Any:
    sent = dict(headers)
    if api is not None:
        sent["X-Keyledger-Api"] = api
    if forwarded_for is not None:
        sent["X-Forwarded-For"] = forwarded_for
    return client.open(
        path,
        method=method,
        headers=sent,
        environ_overrides={"REMOTE_ADDR": client_ip},
    )


@pytest.fixture
def key(api: ApiClient) -> dict[str, Any]:
    return api.create_key(permissions=["verify", "send"])


# 200: the identity in headers, for any method and any path below.


PATHS = ["/v1/auth/forward", "/v1/auth/forward/", "/v1/auth/forward/v2/otp/send?to=1"]


def test_allowed_request_gets_the_identity_in_headers(
    api: ApiClient, key: dict[str, Any]
) -> None:
    credentials = basic(key["dev_key"], key["dev_secret"])
    for method in METHODS:
        for path in PATHS:
            response = forward(api.client, credentials, method=method, path=path)
            where = f"{method} {path}"
            assert response.status_code == 200, where
            assert response.headers["X-Keyledger-Key-Id"] == key["id"], where
            assert response.headers["X-Keyledger-Dev-Key"] == key["dev_key"], where
            assert response.headers["X-Keyledger-Permissions"] == "send,verify"
            assert "X-Keyledger-Reason" not in response.headers, where
            assert response.headers["Cache-Control"] == "no-store", where


def test_allowed_body_is_the_auth_body(api: ApiClient, key: dict[str, Any]) -> None:
    credentials = basic(key["dev_key"], key["dev_secret"])
    forwarded = forward(api.client, credentials, api="verify")
    posted = api.auth(key["dev_key"], key["dev_secret"], api="verify")
    assert forwarded.json == posted.json
    assert forwarded.json["allowed"] is True


def test_a_body_sent_along_is_ignored(api: ApiClient, key: dict[str, Any]) -> None:
    response = api.client.post(
        "/v1/auth/forward",
        data=b'{"api": "verify", "client_ip": "192.0.2.1"}',
        content_type="application/json",
        headers={**basic(key["dev_key"], key["dev_secret"]), "X-Keyledger-Api": "send"},
    )
    assert response.status_code == 200


# 401: the same one answer for every way the credentials can be wrong.

CREDENTIAL_FAILURES = {
    "no header": lambda key: {},
    "bearer": lambda key: {"Authorization": "Bearer " + key["dev_secret"]},
    "garbled": lambda key: {"Authorization": "Basic !!!"},
    "unknown key": lambda key: basic("U" * 24, key["dev_secret"]),
    "wrong secret": lambda key: basic(key["dev_key"], "W" * 43),
    "empty secret": lambda key: basic(key["dev_key"], ""),
}


def test_bad_credentials_answer_401_with_challenge_and_reason(
    api: ApiClient, key: dict[str, Any]
) -> None:
    for failure, credentials in CREDENTIAL_FAILURES.items():
        response = forward(api.client, credentials(key))
        assert response.status_code == 401, failure
        assert response.headers["WWW-Authenticate"] == 'Basic realm="keyledger"'
        assert response.headers["X-Keyledger-Reason"] == "invalid_credentials"
        assert response.json == {"allowed": False, "reason": "invalid_credentials"}
        assert not any(name in response.headers for name in IDENTITY_HEADERS)


def test_deleted_key_answers_like_an_unknown_one(
    api: ApiClient, key: dict[str, Any]
) -> None:
    assert api.delete(key["id"]).status_code == 204
    deleted = forward(api.client, basic(key["dev_key"], key["dev_secret"]))
    unknown = forward(api.client, basic("D" * 24, key["dev_secret"]))
    assert deleted.status_code == unknown.status_code == 401
    assert deleted.get_data() == unknown.get_data()
    assert deleted.headers["X-Keyledger-Reason"] == "invalid_credentials"


# 403: the first reason that applies, in /v1/auth's order.

REFUSALS = [
    pytest.param(True, True, True, True, "key_disabled", id="all-four"),
    pytest.param(False, True, True, True, "key_expired", id="expired-ip-api"),
    pytest.param(False, False, True, True, "ip_not_allowed", id="ip-api"),
    pytest.param(False, False, False, True, "permission_denied", id="api-only"),
]


@pytest.mark.parametrize(
    ("disabled", "expired", "ip_refused", "api_refused", "reason"), REFUSALS
)
def test_refusal_names_the_first_failing_check_in_a_header(
    api: ApiClient,
    app: Flask,
    disabled: bool,
    expired: bool,
    ip_refused: bool,
    api_refused: bool,
    reason: str,
) -> None:
    ledger = services_of(app).ledger
    real_clock, ledger.clock = ledger.clock, lambda: BACK_THEN
    try:
        created = api.create_key(
            expires_at=PASSED_EXPIRY if expired else None,
            ip_whitelist=["198.51.100.0/24"] if ip_refused else [],
            permissions=["verify"] if api_refused else ["send"],
        )
    finally:
        ledger.clock = real_clock
    if disabled:
        assert api.action(created["id"], "disable").status_code == 200
    credentials = basic(created["dev_key"], created["dev_secret"])
    response = forward(api.client, credentials, api="send")
    assert response.status_code == 403
    assert response.headers["X-Keyledger-Reason"] == reason
    assert "WWW-Authenticate" not in response.headers
    assert not any(name in response.headers for name in IDENTITY_HEADERS)
    posted = api.auth(created["dev_key"], created["dev_secret"], api="send")
    assert response.json == posted.json == {"allowed": False, "reason": reason}


# 422: the gateway did not say which API, whatever the credentials.


def test_missing_or_invalid_api_header_answers_422_whatever_the_credentials(
    api: ApiClient, key: dict[str, Any]
) -> None:
    for credentials in (
        basic(key["dev_key"], key["dev_secret"]),
        basic(key["dev_key"], "W" * 43),
        {},
    ):
        for api_header in (None, "", "email", "SEND", "send,verify"):
            response = forward(api.client, credentials, api=api_header)
            assert response.status_code == 422, (credentials, api_header)
            assert response.json["allowed"] is False
            assert list(response.json["errors"]) == ["X-Keyledger-Api"]
            assert "X-Keyledger-Api" in response.json["message"]


def test_a_path_merely_starting_like_it_is_not_forward_auth(
    api: ApiClient, key: dict[str, Any]
) -> None:
    response = forward(
        api.client,
        basic(key["dev_key"], key["dev_secret"]),
        path="/v1/auth/forwarded",
    )
    assert response.status_code == 404


# The very next call obeys an acknowledged change.


def test_revocation_is_obeyed_by_the_very_next_forwarded_request(
    api: ApiClient, key: dict[str, Any]
) -> None:
    credentials = basic(key["dev_key"], key["dev_secret"])
    assert forward(api.client, credentials).status_code == 200
    assert api.action(key["id"], "disable").status_code == 200
    assert forward(api.client, credentials).headers["X-Keyledger-Reason"] == (
        "key_disabled"
    )
    assert api.action(key["id"], "enable").status_code == 200
    reset = api.action(key["id"], "reset-secret")
    assert reset.status_code == 200
    assert forward(api.client, credentials).status_code == 401
    fresh = basic(key["dev_key"], reset.json["dev_secret"])
    assert forward(api.client, fresh).status_code == 200
    narrowed = api.patch(key["id"], {"permissions": ["verify"]})
    assert narrowed.status_code == 200
    assert forward(api.client, fresh).headers["X-Keyledger-Reason"] == (
        "permission_denied"
    )


# The client address: REMOTE_ADDR, or X-Forwarded-For by the hops rule.


@pytest.fixture
def behind_one_proxy(config: dict[str, Any]) -> Iterator[FlaskClient]:
    application = open_app({**config, "trusted_proxy_hops": 1})
    yield application.test_client()
    services_of(application).close()


@pytest.fixture
def whitelisted(api: ApiClient) -> dict[str, str]:
    key = api.create_key(ip_whitelist=["198.51.100.0/24"])
    return basic(key["dev_key"], key["dev_secret"])


def test_without_trusted_hops_a_forwarded_for_header_is_ignored(
    api: ApiClient, whitelisted: dict[str, str]
) -> None:
    spoofed = forward(
        api.client, whitelisted, client_ip=CLIENT_IP, forwarded_for="198.51.100.7"
    )
    assert spoofed.headers["X-Keyledger-Reason"] == "ip_not_allowed"
    direct = forward(api.client, whitelisted, client_ip="198.51.100.7")
    assert direct.status_code == 200


def test_with_one_trusted_hop_the_proxy_s_entry_is_the_client(
    behind_one_proxy: FlaskClient, whitelisted: dict[str, str]
) -> None:
    # The gateway (REMOTE_ADDR 127.0.0.1) says it saw 198.51.100.7.
    allowed = forward(
        behind_one_proxy,
        whitelisted,
        client_ip="127.0.0.1",
        forwarded_for="198.51.100.7",
    )
    assert allowed.status_code == 200
    refused = forward(
        behind_one_proxy, whitelisted, client_ip="127.0.0.1", forwarded_for=CLIENT_IP
    )
    assert refused.headers["X-Keyledger-Reason"] == "ip_not_allowed"


def test_with_one_trusted_hop_a_client_s_own_entries_do_not_count(
    behind_one_proxy: FlaskClient, whitelisted: dict[str, str]
) -> None:
    """A gateway that appends (rather than overwrites) leaves the client's
    own claim to the left; only the rightmost, the gateway's, counts."""
    response = forward(
        behind_one_proxy,
        whitelisted,
        client_ip="127.0.0.1",
        forwarded_for=f"198.51.100.7, {CLIENT_IP}",
    )
    assert response.headers["X-Keyledger-Reason"] == "ip_not_allowed"


def test_an_unparsable_forwarded_address_answers_422(
    behind_one_proxy: FlaskClient, whitelisted: dict[str, str]
) -> None:
    response = forward(
        behind_one_proxy, whitelisted, client_ip="127.0.0.1", forwarded_for="unknown"
    )
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["X-Forwarded-For"]


# 503: the store cannot be read; nothing is guessed.


@contextmanager
def keys_table_missing(app: Flask) -> Iterator[None]:
    """The current-state table vanishes for a moment, as in a broken store."""
    recorder = services_of(app).ledger.ledger_recorder
    table = recorder.dialect.table(KEYS_TABLE)
    with recorder.write_transaction() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {KEYS_TABLE}_away")
    try:
        yield
    finally:
        away = recorder.dialect.table(f"{KEYS_TABLE}_away")
        with recorder.write_transaction() as cursor:
            cursor.execute(f"ALTER TABLE {away} RENAME TO {KEYS_TABLE}")


def test_an_unreadable_store_answers_503_and_recovers(
    api: ApiClient, app: Flask, key: dict[str, Any]
) -> None:
    credentials = basic(key["dev_key"], key["dev_secret"])
    with keys_table_missing(app):
        response = forward(api.client, credentials)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json["allowed"] is False
        assert not any(name in response.headers for name in IDENTITY_HEADERS)
    assert forward(api.client, credentials).status_code == 200
