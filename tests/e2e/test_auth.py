"""``POST /v1/auth`` (api.md, "Authorizing a request") through the Flask test
client, on SQLite and PostgreSQL: every answer, the order of the 403 reasons,
IP matching edge cases, expiry at the second, and revocation that the very
next call obeys."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from service.authorization import Authorizer
from tests.conftest import ApiClient, basic, bearer

CLIENT_IP = "203.0.113.9"
# The operators' clock for keys whose expiry has passed in real time: a past
# expiry is refused at the API, so such keys are made "back then".
BACK_THEN = datetime(2020, 1, 1, tzinfo=UTC)
PASSED_EXPIRY = "2020-06-30T12:00:00Z"
INVALID_CREDENTIALS = {"allowed": False, "reason": "invalid_credentials"}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def post_auth(api: ApiClient, headers: dict[str, str], body: Any = None) -> Any:
    payload = {"api": "send", "client_ip": CLIENT_IP} if body is None else body
    return api.client.post("/v1/auth", json=payload, headers=headers)


def fingerprint(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Everything a client can see of an answer, except the Date header and
    the request id (new for every request)."""
    headers = sorted(
        (k, v) for k, v in response.headers.items() if k not in ("Date", "X-Request-Id")
    )
    return response.status_code, headers, response.get_data()


@contextmanager
def operators_clock(app: Flask, moment: datetime) -> Iterator[None]:
    """Management calls inside validate expiries against ``moment``."""
    ledger = app.extensions["keyledger"].ledger
    real = ledger.clock
    ledger.clock = lambda: moment
    try:
        yield
    finally:
        ledger.clock = real


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
    }
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"


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


# Whitelist matching.

IP_CASES = [
    pytest.param(["203.0.113.0/24"], "203.0.113.0", True, id="v4-first"),
    pytest.param(["203.0.113.0/24"], "203.0.113.255", True, id="v4-last"),
    pytest.param(["203.0.113.0/24"], "203.0.112.255", False, id="v4-below"),
    pytest.param(["203.0.113.0/24"], "203.0.114.0", False, id="v4-above"),
    pytest.param(["203.0.113.7"], "203.0.113.7", True, id="v4-host"),
    pytest.param(["203.0.113.7"], "203.0.113.8", False, id="v4-host-next"),
    pytest.param(["2001:db8:1:2::/64"], "2001:db8:1:2::", True, id="v6-64-first"),
    pytest.param(
        ["2001:db8:1:2::/64"],
        "2001:db8:1:2:ffff:ffff:ffff:ffff",
        True,
        id="v6-64-last",
    ),
    pytest.param(
        ["2001:db8:1:2::/64"],
        "2001:db8:1:1:ffff:ffff:ffff:ffff",
        False,
        id="v6-64-below",
    ),
    pytest.param(["2001:db8:1:2::/64"], "2001:db8:1:3::", False, id="v6-64-above"),
    pytest.param(["2001:db8::7"], "2001:db8::7", True, id="v6-host"),
    pytest.param(["2001:db8::7"], "2001:0DB8:0:0:0:0:0:7", True, id="v6-host-long"),
    pytest.param(["2001:db8::7"], "2001:db8::8", False, id="v6-host-next"),
    pytest.param(["203.0.113.0/24"], "::ffff:203.0.113.9", True, id="mapped-in-v4"),
    pytest.param(["203.0.113.0/24"], "::ffff:203.0.114.9", False, id="mapped-out"),
    pytest.param(["::ffff:203.0.113.0/120"], "203.0.113.9", True, id="mapped-entry"),
    pytest.param(["2001:db8::/32"], "203.0.113.9", False, id="v4-vs-v6-only"),
    pytest.param(["203.0.113.0/24"], "2001:db8::1", False, id="v6-vs-v4-only"),
    pytest.param(
        ["198.51.100.0/24", "2001:db8::/32"], "2001:db8:ff::1", True, id="mixed-v6"
    ),
    pytest.param([], "203.0.113.9", True, id="empty-v4"),
    pytest.param([], "2001:db8::1", True, id="empty-v6"),
    pytest.param([], "::ffff:198.51.100.1", True, id="empty-mapped"),
]


@pytest.mark.parametrize(("whitelist", "client_ip", "allowed"), IP_CASES)
def test_client_ip_is_matched_against_the_whitelist(
    api: ApiClient, whitelist: list[str], client_ip: str, allowed: bool
) -> None:
    key = api.create_key(ip_whitelist=whitelist)
    response = api.auth(key["dev_key"], key["dev_secret"], client_ip=client_ip)
    if allowed:
        assert response.status_code == 200, response.json
    else:
        assert (response.status_code, response.json) == (
            403,
            {"allowed": False, "reason": "ip_not_allowed"},
        )


# Expiry at the second, with the authorizer's clock injected.

EXPIRY_MOMENTS = [
    # expires_at as sent, the authorizer's clock, allowed?
    pytest.param("2099-01-01T00:00:00Z", "2098-12-31T23:59:59", True, id="before"),
    pytest.param("2099-01-01T00:00:00Z", "2099-01-01T00:00:00", True, id="at"),
    pytest.param("2099-01-01T00:00:00Z", "2099-01-01T00:00:00.999", True, id="in"),
    pytest.param("2099-01-01T00:00:00Z", "2099-01-01T00:00:01", False, id="after"),
    pytest.param("2099-01-01", "2099-01-01T23:59:59", True, id="date-last-second"),
    pytest.param("2099-01-01", "2099-01-02T00:00:00", False, id="date-next-day"),
]


@pytest.mark.parametrize(("expires_at", "now", "allowed"), EXPIRY_MOMENTS)
def test_a_key_is_valid_through_its_expiry_second(
    api: ApiClient, app: Flask, expires_at: str, now: str, allowed: bool
) -> None:
    key = api.create_key(expires_at=expires_at)
    services = app.extensions["keyledger"]
    moment = datetime.fromisoformat(now).replace(tzinfo=UTC).timestamp()
    authorizer = Authorizer(
        services.authorizer.lookup, services.ledger.sealer, clock=lambda: moment
    )
    decision = authorizer.decide(key["dev_key"], key["dev_secret"], "send", CLIENT_IP)
    assert (decision.allowed, decision.reason) == (
        (True, None) if allowed else (False, "key_expired")
    )


# Revocation: the very next call obeys an acknowledged change.


def _disable(api: ApiClient, app: Flask, key: dict[str, Any]) -> Any:
    return api.action(key["id"], "disable")


def _reset(api: ApiClient, app: Flask, key: dict[str, Any]) -> Any:
    return api.action(key["id"], "reset-secret")


def _narrow_whitelist(api: ApiClient, app: Flask, key: dict[str, Any]) -> Any:
    return api.patch(key["id"], {"ip_whitelist": ["198.51.100.0/24"]})


def _narrow_permissions(api: ApiClient, app: Flask, key: dict[str, Any]) -> Any:
    return api.patch(key["id"], {"permissions": ["verify"]})


def _earlier_expiry(api: ApiClient, app: Flask, key: dict[str, Any]) -> Any:
    with operators_clock(app, BACK_THEN):
        return api.patch(key["id"], {"expires_at": PASSED_EXPIRY})


def _delete(api: ApiClient, app: Flask, key: dict[str, Any]) -> Any:
    return api.delete(key["id"])


REVOCATIONS = [
    pytest.param(_disable, 403, "key_disabled", id="disable"),
    pytest.param(_reset, 401, "invalid_credentials", id="reset-secret"),
    pytest.param(_narrow_whitelist, 403, "ip_not_allowed", id="narrow-whitelist"),
    pytest.param(
        _narrow_permissions, 403, "permission_denied", id="narrow-permissions"
    ),
    pytest.param(_earlier_expiry, 403, "key_expired", id="earlier-expiry"),
    pytest.param(_delete, 401, "invalid_credentials", id="delete"),
]


@pytest.mark.parametrize(("revoke", "status", "reason"), REVOCATIONS)
def test_the_next_call_obeys_an_acknowledged_revocation(
    api: ApiClient,
    app: Flask,
    revoke: Callable[[ApiClient, Flask, dict[str, Any]], Any],
    status: int,
    reason: str,
) -> None:
    key = api.create_key(expires_at="2099-01-01", permissions=["send", "verify"])
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 200
    assert revoke(api, app, key).status_code in (200, 204)
    response = api.auth(key["dev_key"], key["dev_secret"])
    assert (response.status_code, response.json) == (
        status,
        {"allowed": False, "reason": reason},
    )


def test_the_new_secret_works_at_once_after_a_reset(api: ApiClient) -> None:
    key = api.create_key()
    new_secret = api.action(key["id"], "reset-secret").json["dev_secret"]
    assert api.auth(key["dev_key"], new_secret).status_code == 200


def test_re_enabling_is_obeyed_by_the_next_call(api: ApiClient) -> None:
    key = api.create_key()
    api.action(key["id"], "disable")
    assert api.action(key["id"], "enable").status_code == 200
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 200
