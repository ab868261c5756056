"""Roll a secret with a grace period, and restore a deleted key, through the
API on both stores; the grace boundary to the second with the authorizer's
clock injected (no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from service.api.context import services_of
from service.authorization import Authorizer
from tests.conftest import ApiClient

CLIENT_IP = "203.0.113.9"
ROLLED_AT = datetime.now(UTC).replace(microsecond=600_000) + timedelta(days=1)
WHOLE = ROLLED_AT.replace(microsecond=0)


def at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def operators_clock(app: Flask) -> Iterator[None]:
    """The service's clock stands at ROLLED_AT while the test runs."""
    ledger = services_of(app).ledger
    real = ledger.clock
    ledger.clock = lambda: ROLLED_AT
    yield
    ledger.clock = real


def authorizer_at(app: Flask, moment: datetime) -> Authorizer:
    """The real auth decision over the real read model, at ``moment``."""
    services = services_of(app)
    stamp = moment.timestamp()
    return Authorizer(services.authorizer.lookup, services.ledger.sealer, lambda: stamp)


def allowed(app: Flask, key: dict[str, Any], secret: str, moment: datetime) -> bool:
    decision = authorizer_at(app, moment).decide(
        key["dev_key"], secret, "send", CLIENT_IP
    )
    return decision.allowed


def roll(api: ApiClient, key_id: str, grace: Any) -> Any:
    return api.client.post(
        f"/v1/keys/{key_id}/roll-secret",
        json={"grace_seconds": grace},
        headers=api.headers,
    )


@pytest.fixture
def key(api: ApiClient) -> dict[str, Any]:
    return api.create_key(permissions=["send"])


# --------------------------------------------------------------------------
# roll
# --------------------------------------------------------------------------


@pytest.mark.usefixtures("operators_clock")
def test_roll_answers_the_key_with_a_new_secret_and_the_grace_end(
    api: ApiClient, key: dict[str, Any]
) -> None:
    response = roll(api, key["id"], 3600)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["dev_secret"].startswith("kls_")
    assert body["dev_secret"] != key["dev_secret"]
    assert body["previous_secret_expires_at"] == at(WHOLE + timedelta(hours=1))
    assert body["version"] == 2
    assert response.headers["ETag"] == '"2"'
    shown = api.get(f"/v1/keys/{key['id']}").json
    assert shown["previous_secret_expires_at"] == at(WHOLE + timedelta(hours=1))
    assert "dev_secret" not in shown


@pytest.mark.usefixtures("operators_clock")
def test_previous_secret_works_until_the_grace_end_to_the_second(
    api: ApiClient, app: Flask, key: dict[str, Any]
) -> None:
    new = roll(api, key["id"], 90).json["dev_secret"]
    end = WHOLE + timedelta(seconds=90)
    old = key["dev_secret"]
    assert allowed(app, key, old, ROLLED_AT)
    assert allowed(app, key, old, end - timedelta(milliseconds=1))
    assert not allowed(app, key, old, end)
    assert not allowed(app, key, old, end + timedelta(days=1))
    for moment in (ROLLED_AT, end, end + timedelta(days=1)):
        assert allowed(app, key, new, moment)


@pytest.mark.usefixtures("operators_clock")
def test_previous_secret_after_grace_is_invalid_credentials(
    api: ApiClient, app: Flask, key: dict[str, Any]
) -> None:
    roll(api, key["id"], 10)
    decision = authorizer_at(app, WHOLE + timedelta(seconds=10)).decide(
        key["dev_key"], key["dev_secret"], "send", CLIENT_IP
    )
    assert (decision.allowed, decision.reason) == (False, "invalid_credentials")


def test_grace_zero_cuts_the_old_secret_at_once_over_http(
    api: ApiClient, key: dict[str, Any]
) -> None:
    new = roll(api, key["id"], 0).json["dev_secret"]
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 401
    assert api.auth(key["dev_key"], new).status_code == 200


def test_both_secrets_work_over_http_during_grace(
    api: ApiClient, key: dict[str, Any]
) -> None:
    new = roll(api, key["id"], 600).json["dev_secret"]
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 200
    assert api.auth(key["dev_key"], new).status_code == 200


@pytest.mark.usefixtures("operators_clock")
def test_reset_during_grace_ends_it_at_once(
    api: ApiClient, app: Flask, key: dict[str, Any]
) -> None:
    rolled = roll(api, key["id"], 3600).json["dev_secret"]
    reset = api.action(key["id"], "reset-secret")
    assert reset.json["previous_secret_expires_at"] is None
    assert not allowed(app, key, key["dev_secret"], ROLLED_AT)
    assert not allowed(app, key, rolled, ROLLED_AT)
    assert allowed(app, key, reset.json["dev_secret"], ROLLED_AT)
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 401


@pytest.mark.usefixtures("operators_clock")
def test_second_roll_ends_the_first_grace_two_secrets_at_most(
    api: ApiClient, app: Flask, key: dict[str, Any]
) -> None:
    second = roll(api, key["id"], 3600).json["dev_secret"]
    third = roll(api, key["id"], 60).json
    assert third["previous_secret_expires_at"] == at(WHOLE + timedelta(seconds=60))
    assert not allowed(app, key, key["dev_secret"], ROLLED_AT)
    assert allowed(app, key, second, ROLLED_AT)
    assert allowed(app, key, third["dev_secret"], ROLLED_AT)


@pytest.mark.parametrize("grace", [0, 2_592_000])
def test_grace_bounds_accepted(api: ApiClient, key: dict[str, Any], grace: int) -> None:
    assert roll(api, key["id"], grace).status_code == 200


@pytest.mark.parametrize("grace", [-1, 2_592_001, 1.5, "60", None, True])
def test_grace_out_of_range_or_not_a_number_is_422_naming_it(
    api: ApiClient, key: dict[str, Any], grace: Any
) -> None:
    response = roll(api, key["id"], grace)
    assert response.status_code == 422, response.json
    assert "grace_seconds" in response.json["errors"]
    assert api.get(f"/v1/keys/{key['id']}").json["version"] == 1


def test_roll_without_body_is_422_and_unknown_key_404(
    api: ApiClient, key: dict[str, Any]
) -> None:
    missing = api.client.post(
        f"/v1/keys/{key['id']}/roll-secret", json={}, headers=api.headers
    )
    assert missing.status_code == 422
    assert "grace_seconds" in missing.json["errors"]
    assert roll(api, "not-a-uuid", 60).status_code == 404
    api.delete(key["id"])
    assert roll(api, key["id"], 60).status_code == 404


def test_roll_is_in_history_without_secrets(
    api: ApiClient, key: dict[str, Any]
) -> None:
    body = roll(api, key["id"], 60).json
    items = api.get(f"/v1/keys/{key['id']}/history").json["items"]
    assert items[-1]["type"] == "secret_rolled"
    assert items[-1]["changes"] == {
        "previous_secret_expires_at": {
            "from": None,
            "to": body["previous_secret_expires_at"],
        }
    }
    text = str(items)
    assert body["dev_secret"] not in text
    assert key["dev_secret"] not in text
    feed = api.get("/v1/audit", query_string={"type": "secret_rolled"}).json
    assert [i["key_id"] for i in feed["items"]] == [key["id"]]


def test_auditor_may_not_roll(api: ApiClient, app: Flask, key: dict[str, Any]) -> None:
    token = services_of(app).operators.create("audrey", "auditor")
    assert roll(api.as_token(token), key["id"], 60).status_code == 403


# --------------------------------------------------------------------------
# restore
# --------------------------------------------------------------------------


def test_restore_brings_the_key_back_disabled_then_enable_lets_the_secret_in(
    api: ApiClient, key: dict[str, Any]
) -> None:
    assert api.delete(key["id"]).status_code == 204
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 401
    restored = api.action(key["id"], "restore")
    assert restored.status_code == 200, restored.json
    body = restored.json
    assert body["status"] == "disabled"
    assert "dev_secret" not in body
    for field in (
        "id",
        "dev_key",
        "description",
        "expires_at",
        "ip_whitelist",
        "permissions",
        "created_at",
    ):
        assert body[field] == key[field], field
    assert body["version"] == 3
    assert api.get(f"/v1/keys/{key['id']}").json["status"] == "disabled"
    denied = api.auth(key["dev_key"], key["dev_secret"])
    assert (denied.status_code, denied.json["reason"]) == (403, "key_disabled")
    assert api.action(key["id"], "enable").status_code == 200
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 200


def test_restored_key_is_listed_again(api: ApiClient, key: dict[str, Any]) -> None:
    api.delete(key["id"])
    assert key["id"] not in [k["id"] for k in api.get("/v1/keys").json["items"]]
    api.action(key["id"], "restore")
    assert key["id"] in [k["id"] for k in api.get("/v1/keys").json["items"]]


def test_restore_of_a_live_key_is_409_and_records_nothing(
    api: ApiClient, key: dict[str, Any]
) -> None:
    response = api.action(key["id"], "restore")
    assert response.status_code == 409
    assert "not deleted" in response.json["message"]
    assert api.get(f"/v1/keys/{key['id']}").json["version"] == 1


@pytest.mark.parametrize("key_id", ["00000000-0000-0000-0000-000000000000", "nope"])
def test_restore_of_an_unknown_key_is_404(api: ApiClient, key_id: str) -> None:
    assert api.action(key_id, "restore").status_code == 404


def test_restore_is_in_history_and_audit(api: ApiClient, key: dict[str, Any]) -> None:
    api.delete(key["id"])
    api.action(key["id"], "restore")
    items = api.get(f"/v1/keys/{key['id']}/history").json["items"]
    assert [i["type"] for i in items] == ["created", "deleted", "restored"]
    assert items[-1]["changes"] == {"status": {"from": "deleted", "to": "disabled"}}
    feed = api.get("/v1/audit", query_string={"type": "restored"}).json
    assert [i["key_id"] for i in feed["items"]] == [key["id"]]


# --------------------------------------------------------------------------
# the auth answer carries expires_at
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_at", "shown"),
    [(None, None), ("2099-01-31", "2099-01-31T23:59:59Z")],
)
def test_auth_answer_carries_expires_at(
    api: ApiClient, expires_at: str | None, shown: str | None
) -> None:
    key = api.create_key(permissions=["send"], expires_at=expires_at)
    response = api.auth(key["dev_key"], key["dev_secret"])
    assert response.status_code == 200
    assert response.json["expires_at"] == shown
