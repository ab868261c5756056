"""``POST /v1/auth`` (api.md, "Authorizing a request") through the Flask test
client, on SQLite and PostgreSQL: every answer and the order of the 403
reasons. (IP matching, expiry and revocation: test_auth_rules.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.e2e.auth_requests import (
    BACK_THEN,
    CLIENT_IP,
    INVALID_CREDENTIALS,
    PASSED_EXPIRY,
    b64,
    fingerprint,
    operators_clock,
    post_auth,
)
from tests.support.http import ApiClient, basic, bearer

# 200.


def test_allowed_answer_names_the_key_and_its_permissions(api: ApiClient) -> None:
    key = api.create_key(permissions=["verify", "send"])
    response = api.auth(key["dev_key"], key["dev_secret"], api="verify")
    assert response.status_code == 200
    assert response.json == {
        "allowed": True,
        "key_id": key["id"],
        "dev_key": key["dev_key"],
        "permissions": ["send", "verify"],
        "expires_at": None,
    }
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"


def test_allowed_answer_carries_the_expiry_so_a_cache_ends_with_the_key(
    api: ApiClient,
) -> None:
    key = api.create_key(expires_at="2099-01-31")
    response = api.auth(key["dev_key"], key["dev_secret"])
    assert response.status_code == 200
    assert response.json["expires_at"] == key["expires_at"] == "2099-01-31T23:59:59Z"


# 401: one answer for every way the credentials can be wrong.


def _garbled(header: str) -> Callable[[dict[str, Any]], dict[str, str]]:
    return lambda _key: {"Authorization": header}


CREDENTIAL_FAILURES: dict[str, Callable[[dict[str, Any]], dict[str, str]]] = {
    "no header": lambda _key: {},
    "empty header": _garbled(""),
    "bad base64": _garbled("Basic !!!not-base64!!!"),
    "base64 without padding": _garbled("Basic " + b64(b"ab:cd")[:-1]),
    "non-ASCII in header": _garbled("Basic \u00e9t\u00e9"),
    "not UTF-8 inside": _garbled("Basic " + b64(b"\xff\xfe:\xfd")),
    "no colon": lambda key: {"Authorization": "Basic " + b64(key["dev_key"].encode())},
    "empty dev_key": lambda key: basic("", key["dev_secret"]),
    "empty secret": lambda key: basic(key["dev_key"], ""),
    "scheme only": _garbled("Basic"),
    "wrong scheme": lambda key: bearer(f"{key['dev_key']}:{key['dev_secret']}"),
    "unknown dev_key": lambda key: basic("A" * 24, key["dev_secret"]),
    "wrong secret": lambda key: basic(key["dev_key"], "B" * 43),
    "secret of another key": lambda key: basic(key["dev_key"], key["other_secret"]),
}


@pytest.fixture
def key_pair(api: ApiClient) -> dict[str, Any]:
    key = api.create_key()
    key["other_secret"] = api.create_key()["dev_secret"]
    return key


@pytest.mark.parametrize("case", CREDENTIAL_FAILURES)
def test_bad_credentials_answer_401_invalid_credentials(
    api: ApiClient, key_pair: dict[str, Any], case: str
) -> None:
    response = post_auth(api, CREDENTIAL_FAILURES[case](key_pair))
    assert response.status_code == 401
    assert response.json == INVALID_CREDENTIALS
    assert response.headers["WWW-Authenticate"] == 'Basic realm="keyledger"'


@pytest.mark.parametrize("case", CREDENTIAL_FAILURES)
def test_bad_credentials_answer_identically_to_an_unknown_dev_key(
    api: ApiClient, key_pair: dict[str, Any], case: str
) -> None:
    unknown = post_auth(api, basic("Z" * 24, "Z" * 43))
    response = post_auth(api, CREDENTIAL_FAILURES[case](key_pair))
    assert fingerprint(response) == fingerprint(unknown)


def test_unknown_dev_key_and_wrong_secret_are_byte_identical(
    api: ApiClient, key_pair: dict[str, Any]
) -> None:
    unknown = post_auth(api, basic("U" * 24, key_pair["dev_secret"]))
    wrong = post_auth(api, basic(key_pair["dev_key"], key_pair["other_secret"]))
    assert fingerprint(unknown) == fingerprint(wrong)
    assert unknown.get_data() == b'{"allowed":false,"reason":"invalid_credentials"}'


def test_deleted_key_answers_like_an_unknown_one(api: ApiClient) -> None:
    key = api.create_key()
    assert api.delete(key["id"]).status_code == 204
    deleted = api.auth(key["dev_key"], key["dev_secret"])
    unknown = api.auth("D" * 24, key["dev_secret"])
    assert deleted.status_code == 401
    assert fingerprint(deleted) == fingerprint(unknown)


def test_a_wrong_secret_is_checked_before_the_key_state(
    api: ApiClient, app: Flask
) -> None:
    """A disabled, expired, IP- and API-refusing key still says only 401 to a
    caller without its secret: its state is not disclosed."""
    with operators_clock(app, BACK_THEN):
        key = api.create_key(
            expires_at=PASSED_EXPIRY, ip_whitelist=["192.0.2.1"], permissions=["verify"]
        )
    api.action(key["id"], "disable")
    response = api.auth(key["dev_key"], "W" * 43)
    assert (response.status_code, response.json) == (401, INVALID_CREDENTIALS)


# 403: the first reason that applies, in the contract's order.

REFUSALS = [
    # disabled, expired, ip refused, api refused -> reason
    pytest.param(True, True, True, True, "key_disabled", id="all-four"),
    pytest.param(True, False, False, False, "key_disabled", id="disabled-only"),
    pytest.param(False, True, True, True, "key_expired", id="expired-ip-api"),
    pytest.param(False, True, False, False, "key_expired", id="expired-only"),
    pytest.param(False, False, True, True, "ip_not_allowed", id="ip-api"),
    pytest.param(False, False, True, False, "ip_not_allowed", id="ip-only"),
    pytest.param(False, False, False, True, "permission_denied", id="api-only"),
]


@pytest.mark.parametrize(
    ("disabled", "expired", "ip_refused", "api_refused", "reason"), REFUSALS
)
def test_refusal_names_the_first_failing_check(
    api: ApiClient,
    app: Flask,
    disabled: bool,
    expired: bool,
    ip_refused: bool,
    api_refused: bool,
    reason: str,
) -> None:
    with operators_clock(app, BACK_THEN):
        key = api.create_key(
            expires_at=PASSED_EXPIRY if expired else None,
            ip_whitelist=["198.51.100.0/24"] if ip_refused else [],
            permissions=["verify"] if api_refused else ["send"],
        )
    if disabled:
        assert api.action(key["id"], "disable").status_code == 200
    response = api.auth(key["dev_key"], key["dev_secret"], api="send")
    assert response.status_code == 403
    assert response.json == {"allowed": False, "reason": reason}


# 422, 400, 415, 405: the request itself is wrong.

INVALID_BODIES = [
    pytest.param({"client_ip": CLIENT_IP}, "api", id="api-missing"),
    pytest.param({"api": "email", "client_ip": CLIENT_IP}, "api", id="api-unknown"),
    pytest.param({"api": "SEND", "client_ip": CLIENT_IP}, "api", id="api-case"),
    pytest.param({"api": None, "client_ip": CLIENT_IP}, "api", id="api-null"),
    pytest.param({"api": ["send"], "client_ip": CLIENT_IP}, "api", id="api-list"),
    pytest.param({"api": "send"}, "client_ip", id="ip-missing"),
    pytest.param({"api": "send", "client_ip": ""}, "client_ip", id="ip-empty"),
    pytest.param({"api": "send", "client_ip": "nope"}, "client_ip", id="ip-word"),
    pytest.param({"api": "send", "client_ip": "256.1.1.1"}, "client_ip", id="ip-256"),
    pytest.param(
        {"api": "send", "client_ip": "203.0.113.0/24"}, "client_ip", id="ip-network"
    ),
    pytest.param(
        {"api": "send", "client_ip": "203.0.113.9:443"}, "client_ip", id="ip-port"
    ),
    pytest.param({"api": "send", "client_ip": 3405803785}, "client_ip", id="ip-int"),
    pytest.param([], "body", id="body-list"),
    pytest.param("send", "body", id="body-string"),
]
CREDENTIALS_OF_ALL_KINDS: dict[str, Callable[[dict[str, Any]], dict[str, str]]] = {
    "valid": lambda key: basic(key["dev_key"], key["dev_secret"]),
    "wrong secret": CREDENTIAL_FAILURES["wrong secret"],
    "none": CREDENTIAL_FAILURES["no header"],
}


@pytest.mark.parametrize("credentials", CREDENTIALS_OF_ALL_KINDS)
@pytest.mark.parametrize(("body", "field"), INVALID_BODIES)
def test_invalid_request_answers_422_naming_the_field_whatever_the_credentials(
    api: ApiClient, key_pair: dict[str, Any], body: Any, field: str, credentials: str
) -> None:
    response = post_auth(api, CREDENTIALS_OF_ALL_KINDS[credentials](key_pair), body)
    assert response.status_code == 422
    assert response.json["allowed"] is False
    assert list(response.json["errors"]) == [field]
    assert field in response.json["message"]


@pytest.mark.parametrize("raw", [b"{", b"{'api': 'send'}", b"", b"\xff\xfe"])
def test_malformed_json_answers_400(
    api: ApiClient, key_pair: dict[str, Any], raw: bytes
) -> None:
    response = api.client.post(
        "/v1/auth",
        data=raw,
        content_type="application/json",
        headers=basic(key_pair["dev_key"], key_pair["dev_secret"]),
    )
    assert response.status_code == 400
    assert response.json["allowed"] is False


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", None]
)
def test_a_body_that_is_not_json_answers_415(
    api: ApiClient, key_pair: dict[str, Any], content_type: str | None
) -> None:
    response = api.client.post(
        "/v1/auth",
        data=b'{"api": "send", "client_ip": "203.0.113.9"}',
        content_type=content_type,
        headers=basic(key_pair["dev_key"], key_pair["dev_secret"]),
    )
    assert response.status_code == 415


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_answer_405_allowing_post(
    api: ApiClient, key_pair: dict[str, Any], method: str
) -> None:
    response = api.client.open(
        "/v1/auth",
        method=method,
        headers=basic(key_pair["dev_key"], key_pair["dev_secret"]),
    )
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_a_secret_is_never_echoed_in_an_answer(
    api: ApiClient, key_pair: dict[str, Any]
) -> None:
    sent = [
        api.auth(key_pair["dev_key"], key_pair["dev_secret"]),
        api.auth(key_pair["dev_key"], key_pair["other_secret"]),
        post_auth(
            api,
            basic(key_pair["dev_key"], key_pair["dev_secret"]),
            {"api": "send", "client_ip": key_pair["dev_secret"]},
        ),
    ]
    for response in sent:
        data = response.get_data(as_text=True)
        assert key_pair["dev_secret"] not in data
        assert key_pair["other_secret"] not in data
