"""``POST /v1/auth`` applying a key's rules, on SQLite and PostgreSQL: IP
matching edge cases, expiry at the second, and revocation that the very
next call obeys.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from service.authorization import Authorizer
from tests.e2e.auth_requests import (
    BACK_THEN,
    CLIENT_IP,
    PASSED_EXPIRY,
    operators_clock,
)
from tests.support.http import ApiClient

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
    acknowledged = 204 if revoke is _delete else 200  # the contract's success code
    assert revoke(api, app, key).status_code == acknowledged
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


def test_the_allowed_answer_follows_a_change_that_keeps_it_allowed(
    api: ApiClient,
) -> None:
    """The allowed answer is encoded once per key version: a change that
    keeps the key allowed changes the answer at once."""
    key = api.create_key(permissions=["send"])
    before = api.auth(key["dev_key"], key["dev_secret"])
    assert (before.status_code, before.json["permissions"]) == (200, ["send"])
    assert before.json["expires_at"] is None
    changes = {"permissions": ["send", "verify"], "expires_at": "2099-01-01T00:00:00Z"}
    assert api.patch(key["id"], changes).status_code == 200
    after = api.auth(key["dev_key"], key["dev_secret"])
    assert (after.status_code, after.json["permissions"]) == (200, ["send", "verify"])
    assert after.json["expires_at"] == "2099-01-01T00:00:00Z"
