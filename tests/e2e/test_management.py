"""Every row of api.md's "Management" table through the Flask test client,
on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.http import ApiClient

NEXT_YEAR = (datetime.now(UTC) + timedelta(days=365)).date()
LATER = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
KEY_FIELDS = {
    "id",
    "dev_key",
    "description",
    "expires_at",
    "ip_whitelist",
    "permissions",
    "status",
    "created_at",
    "updated_at",
    "version",
}


def z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ids(response: Any) -> list[str]:
    return [item["id"] for item in response.json["items"]]


# Create.


def test_create_answers_201_with_location_etag_and_the_key(api: ApiClient) -> None:
    response = api.create(
        description="payments backend, prod",
        expires_at=z(LATER),
        ip_whitelist=["203.0.113.0/24", "2001:db8::7"],
        permissions=["verify", "send"],
    )
    body = response.json
    assert response.status_code == 201
    assert response.headers["Location"].endswith(f"/v1/keys/{body['id']}")
    assert response.headers["ETag"] == '"1"'
    assert set(body) == KEY_FIELDS | {"dev_secret"}
    assert body["description"] == "payments backend, prod"
    assert body["expires_at"] == z(LATER)
    assert body["ip_whitelist"] == ["203.0.113.0/24", "2001:db8::7"]
    assert body["permissions"] == ["send", "verify"]
    assert (body["status"], body["version"]) == ("enabled", 1)


def test_create_issues_url_safe_credentials_of_sufficient_length(
    api: ApiClient,
) -> None:
    key = api.create_key()
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", key["dev_key"])
    # 256 bits in URL-safe base64 is at least 43 characters.
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", key["dev_secret"])


def test_create_with_only_permissions_never_expires_and_allows_any_ip(
    api: ApiClient,
) -> None:
    key = api.create_key(permissions=["send"])
    assert (key["description"], key["expires_at"], key["ip_whitelist"]) == (
        "",
        None,
        [],
    )


def test_created_location_serves_the_key(api: ApiClient) -> None:
    response = api.create()
    details = api.get(response.headers["Location"])
    assert details.status_code == 200
    assert details.json["id"] == response.json["id"]


# Expiry.


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (NEXT_YEAR.isoformat(), f"{NEXT_YEAR.isoformat()}T23:59:59Z"),
        (z(LATER), z(LATER)),
        (LATER.isoformat(), z(LATER)),
        (None, None),
    ],
    ids=["bare-date", "rfc3339-z", "rfc3339-offset", "null"],
)
def test_expiry_is_normalised_to_utc(
    api: ApiClient, sent: str | None, stored: str | None
) -> None:
    assert api.create_key(expires_at=sent)["expires_at"] == stored


@pytest.mark.parametrize(
    "past", ["2020-01-01", "2020-01-01T00:00:00Z", z(datetime.now(UTC) - timedelta(1))]
)
def test_expiry_in_the_past_is_refused(api: ApiClient, past: str) -> None:
    response = api.create(expires_at=past)
    assert response.status_code == 422
    assert "expires_at" in response.json["errors"]


def test_expiry_can_be_cleared_to_never(api: ApiClient) -> None:
    key = api.create_key(expires_at=z(LATER))
    assert api.patch(key["id"], {"expires_at": None}).json["expires_at"] is None


# List.


def test_list_is_newest_first(api: ApiClient) -> None:
    created = [api.create_key(description=f"k{n}")["id"] for n in range(3)]
    response = api.get("/v1/keys")
    assert response.status_code == 200
    assert ids(response) == created[::-1]
    assert response.json["next"] is None


def test_list_items_carry_no_secret(api: ApiClient) -> None:
    api.create_key()
    assert set(api.get("/v1/keys").json["items"][0]) == KEY_FIELDS


@pytest.mark.parametrize("status", ["enabled", "disabled", "expired"])
def test_list_filters_by_status(
    api: ApiClient, app: Any, status: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    enabled = api.create_key()["id"]
    disabled = api.create_key()["id"]
    api.action(disabled, "disable")
    expiring = api.create_key(expires_at=z(LATER))["id"]
    # Jump past the expiry through the service's clock rather than waiting.
    ledger = app.extensions["keyledger"].ledger
    monkeypatch.setattr(ledger, "clock", lambda: LATER + timedelta(seconds=1))
    expected = {"enabled": [enabled], "disabled": [disabled], "expired": [expiring]}
    assert ids(api.get(f"/v1/keys?status={status}")) == expected[status]


@pytest.mark.parametrize(
    ("q", "matches"),
    [
        ("PAYMENTS", ["Payments prod", "old payments"]),
        ("prod", ["Payments prod"]),
        ("100%", ["100% uptime"]),
        ("%", ["100% uptime"]),
        ("a_b", ["a_b team"]),
        ("_", ["a_b team"]),
        ("nothing", []),
    ],
)
def test_list_q_matches_description_case_insensitively_and_literally(
    api: ApiClient, q: str, matches: list[str]
) -> None:
    for description in ["old payments", "Payments prod", "100% uptime", "a_b team"]:
        api.create_key(description=description)
    found = api.get("/v1/keys", query_string={"q": q}).json["items"]
    assert sorted(item["description"] for item in found) == sorted(matches)


def test_list_limit_caps_the_page_and_offers_a_cursor(api: ApiClient) -> None:
    created = [api.create_key()["id"] for _ in range(3)]
    page = api.get("/v1/keys?limit=2")
    assert ids(page) == created[:0:-1]
    assert page.json["next"]


def test_cursor_paging_visits_every_key_once_in_order(api: ApiClient) -> None:
    created = [api.create_key()["id"] for _ in range(7)]
    seen: list[str] = []
    pages = 0
    query: dict[str, Any] = {"limit": 3}
    while True:
        body = api.get("/v1/keys", query_string=query).json
        seen += [item["id"] for item in body["items"]]
        pages += 1
        if body["next"] is None:
            break
        query["after"] = body["next"]
    assert seen == created[::-1]
    assert pages == 3


def test_cursor_paging_combines_with_a_filter(api: ApiClient) -> None:
    wanted = [api.create_key(description=f"team {n}")["id"] for n in range(3)]
    api.create_key(description="other")
    first = api.get("/v1/keys?q=team&limit=2").json
    second = api.get(f"/v1/keys?q=team&limit=2&after={first['next']}").json
    assert [i["id"] for i in first["items"] + second["items"]] == wanted[::-1]
    assert second["next"] is None


# Details and reveal.


def test_details_show_the_key_without_its_secret(api: ApiClient) -> None:
    key = api.create_key(description="details")
    response = api.get(f"/v1/keys/{key['id']}")
    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    assert set(response.json) == KEY_FIELDS
    assert response.json == {k: v for k, v in key.items() if k != "dev_secret"}


def test_reveal_returns_the_secret_and_is_recorded(api: ApiClient) -> None:
    key = api.create_key()
    response = api.get(f"/v1/keys/{key['id']}/secret")
    assert response.status_code == 200
    assert response.json == {"dev_key": key["dev_key"], "dev_secret": key["dev_secret"]}
    assert api.get(f"/v1/keys/{key['id']}").json["version"] == 2


# PATCH.


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("description", "renamed", "renamed"),
        ("expires_at", NEXT_YEAR.isoformat(), f"{NEXT_YEAR.isoformat()}T23:59:59Z"),
        ("ip_whitelist", ["203.0.113.7", "10.0.0.0/8"], ["10.0.0.0/8", "203.0.113.7"]),
        ("ip_whitelist", [], []),
        ("permissions", ["verify"], ["verify"]),
    ],
)
def test_patch_changes_a_field(
    api: ApiClient, field: str, value: Any, shown: Any
) -> None:
    key = api.create_key(ip_whitelist=["192.0.2.1"])
    response = api.patch(key["id"], {field: value})
    assert response.status_code == 200
    assert response.json[field] == shown
    assert response.json["version"] == 2
    assert response.headers["ETag"] == '"2"'
    assert api.get(f"/v1/keys/{key['id']}").json[field] == shown


def test_patch_changes_several_fields_one_event_each(api: ApiClient) -> None:
    key = api.create_key()
    body = {"description": "both", "permissions": ["send"], "ip_whitelist": ["::1"]}
    response = api.patch(key["id"], body)
    assert {k: response.json[k] for k in body} == {
        "description": "both",
        "permissions": ["send"],
        "ip_whitelist": ["::1"],
    }
    assert response.json["version"] == 4


@pytest.mark.parametrize("if_match", ['"1"', "1", 'W/"1"', "*"])
def test_patch_with_a_current_if_match_succeeds(api: ApiClient, if_match: str) -> None:
    key = api.create_key()
    response = api.patch(
        key["id"], {"description": "guarded"}, **{"If-Match": if_match}
    )
    assert response.status_code == 200
    assert response.json["version"] == 2


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(
    api: ApiClient,
) -> None:
    key = api.create_key(description="original")
    api.patch(key["id"], {"permissions": ["send"]})
    response = api.patch(key["id"], {"description": "stale"}, **{"If-Match": '"1"'})
    assert response.status_code == 412
    assert response.headers["ETag"] == '"2"'
    assert api.get(f"/v1/keys/{key['id']}").json["description"] == "original"


@pytest.mark.parametrize(
    "body",
    [
        {"description": "same"},
        {"permissions": ["verify", "send"]},
        {"ip_whitelist": ["203.0.113.0/24"]},
        {"expires_at": None},
    ],
)
def test_patch_with_unchanged_values_records_nothing(
    api: ApiClient, body: dict[str, Any]
) -> None:
    key = api.create_key(
        description="same",
        permissions=["send", "verify"],
        ip_whitelist=["203.0.113.0/24"],
    )
    response = api.patch(key["id"], body)
    assert response.status_code == 200
    assert response.json["version"] == 1
    assert response.json["updated_at"] == key["updated_at"]


# Reset secret.


def test_reset_secret_answers_the_key_with_a_new_secret(api: ApiClient) -> None:
    key = api.create_key()
    response = api.action(key["id"], "reset-secret")
    assert response.status_code == 200
    assert set(response.json) == KEY_FIELDS | {"dev_secret"}
    assert response.json["dev_secret"] != key["dev_secret"]
    assert (response.json["version"], response.headers["ETag"]) == (2, '"2"')


def test_reset_secret_stops_the_old_secret_at_once(api: ApiClient) -> None:
    key = api.create_key()
    new_secret = api.action(key["id"], "reset-secret").json["dev_secret"]
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 401
    assert api.auth(key["dev_key"], new_secret).status_code == 200


def test_reveal_after_reset_shows_the_new_secret(api: ApiClient) -> None:
    key = api.create_key()
    new_secret = api.action(key["id"], "reset-secret").json["dev_secret"]
    assert api.get(f"/v1/keys/{key['id']}/secret").json["dev_secret"] == new_secret


# Disable and enable.


@pytest.mark.parametrize(
    ("actions", "status", "version"),
    [
        (["disable"], "disabled", 2),
        (["disable", "disable"], "disabled", 2),
        (["enable"], "enabled", 1),
        (["disable", "enable"], "enabled", 3),
        (["disable", "enable", "enable"], "enabled", 3),
    ],
)
def test_disable_and_enable_are_idempotent(
    api: ApiClient, actions: list[str], status: str, version: int
) -> None:
    key = api.create_key()
    for action in actions:
        response = api.action(key["id"], action)
        assert response.status_code == 200
    assert (response.json["status"], response.json["version"]) == (status, version)
    assert response.headers["ETag"] == f'"{version}"'


@pytest.mark.parametrize(("action", "status"), [("disable", 403), ("enable", 200)])
def test_disable_and_enable_are_obeyed_by_the_next_auth(
    api: ApiClient, action: str, status: int
) -> None:
    key = api.create_key()
    api.action(key["id"], "disable")
    api.action(key["id"], action)
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == status


# Delete.


def test_delete_answers_204_with_no_body(api: ApiClient) -> None:
    key = api.create_key()
    response = api.delete(key["id"])
    assert response.status_code == 204
    assert response.data == b""


def test_a_deleted_key_leaves_the_list(api: ApiClient) -> None:
    kept = api.create_key()["id"]
    api.delete(api.create_key()["id"])
    assert ids(api.get("/v1/keys")) == [kept]


def test_a_deleted_key_no_longer_authorizes(api: ApiClient) -> None:
    key = api.create_key()
    api.delete(key["id"])
    response = api.auth(key["dev_key"], key["dev_secret"])
    assert response.status_code == 401
    assert response.json == {"allowed": False, "reason": "invalid_credentials"}
