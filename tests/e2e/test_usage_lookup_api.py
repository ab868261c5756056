"""Usage and last use, the expires_before filter, and the leaked-secret
lookup, through the API on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from service.api.context import services_of
from tests.conftest import ApiClient

CLIENT_IP = "203.0.113.9"


def flush(app: Flask) -> None:
    assert services_of(app).usage_flusher.flush()


def lookup(api: ApiClient, dev_secret: Any) -> Any:
    return api.client.post(
        "/v1/secrets/lookup", json={"dev_secret": dev_secret}, headers=api.headers
    )


def usage(api: ApiClient, key_id: str, **query: str) -> Any:
    return api.get(f"/v1/keys/{key_id}/usage", query_string=query)


# --------------------------------------------------------------------------
# usage and last use
# --------------------------------------------------------------------------


def test_usage_counts_allowed_and_denied_by_reason_after_a_flush(
    api: ApiClient, app: Flask
) -> None:
    key = api.create_key(permissions=["send"], ip_whitelist=["203.0.113.0/24"])
    for _ in range(3):
        assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 200
    api.auth(key["dev_key"], key["dev_secret"], client_ip="198.51.100.1")
    api.auth(key["dev_key"], key["dev_secret"], api="verify")
    api.auth(key["dev_key"], "kls_wrong")
    flush(app)
    response = usage(api, key["id"])
    assert response.status_code == 200, response.json
    items = response.json["items"]
    assert len(items) in (24, 25)  # the last 24 hours, by the hour
    totals = {"allowed": sum(i["allowed"] for i in items)}
    for item in items:
        for reason, n in item["denied"].items():
            totals[reason] = totals.get(reason, 0) + n
    assert totals == {
        "allowed": 3,
        "ip_not_allowed": 1,
        "permission_denied": 1,
        "key_disabled": 0,
        "key_expired": 0,
    }
    current = items[-1]
    assert current["allowed"] == 3
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert current["start"] in (
        hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
        (hour - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def test_usage_by_day_and_explicit_range(api: ApiClient, app: Flask) -> None:
    key = api.create_key(permissions=["send"])
    api.auth(key["dev_key"], key["dev_secret"])
    flush(app)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = (today - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (today + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    items = usage(api, key["id"], since=since, until=until, bucket="day").json["items"]
    assert [i["allowed"] for i in items] == [0, 0, 1]
    assert items[0]["start"] == since


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"bucket": "week"}, "bucket"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2027-01-01"}, "until"),
        ({"limit": "3"}, "limit"),
        ({"until": "0001-01-01T00:00:00Z"}, "until"),
    ],
)
def test_usage_query_errors_are_422_naming_the_field(
    api: ApiClient, query: dict[str, str], field: str
) -> None:
    key = api.create_key(permissions=["send"])
    response = usage(api, key["id"], **query)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]


def test_usage_of_a_long_range_covers_its_newest_part(api: ApiClient) -> None:
    key = api.create_key(permissions=["send"])
    query = {"since": "2020-01-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"}
    items = usage(api, key["id"], bucket="day", **query).json["items"]
    assert len(items) == 400
    assert items[0]["start"] == "2025-11-27T00:00:00Z"
    assert items[-1]["start"] == "2026-12-31T00:00:00Z"


def test_usage_of_an_empty_range_has_no_items(api: ApiClient) -> None:
    key = api.create_key(permissions=["send"])
    moment = "2027-01-01T00:00:00Z"
    for since in (moment, "2027-01-02T00:00:00Z"):
        response = usage(api, key["id"], since=since, until=moment)
        assert response.status_code == 200
        assert response.json == {"items": []}


def test_usage_at_the_end_of_time_is_answered(api: ApiClient) -> None:
    key = api.create_key(permissions=["send"])
    query = {"since": "9999-12-30T00:00:00Z", "until": "9999-12-31T23:59:59Z"}
    items = usage(api, key["id"], bucket="day", **query).json["items"]
    assert [i["start"] for i in items] == [
        "9999-12-30T00:00:00Z",
        "9999-12-31T00:00:00Z",
    ]


def test_usage_of_unknown_or_deleted_key_is_404(api: ApiClient) -> None:
    key = api.create_key(permissions=["send"])
    api.delete(key["id"])
    assert usage(api, key["id"]).status_code == 404
    assert usage(api, "nope").status_code == 404


def test_last_used_at_in_key_bodies_after_a_flush(api: ApiClient, app: Flask) -> None:
    key = api.create_key(permissions=["send"])
    assert key["last_used_at"] is None
    before = datetime.now(UTC).replace(microsecond=0)
    api.auth(key["dev_key"], key["dev_secret"])
    flush(app)
    shown = api.get(f"/v1/keys/{key['id']}").json["last_used_at"]
    used = datetime.fromisoformat(shown.replace("Z", "+00:00"))
    assert before <= used <= datetime.now(UTC)
    listed = [k for k in api.get("/v1/keys").json["items"] if k["id"] == key["id"]]
    assert listed[0]["last_used_at"] == shown


def test_a_denial_does_not_set_last_used_at(api: ApiClient, app: Flask) -> None:
    key = api.create_key(permissions=["verify"])
    api.auth(key["dev_key"], key["dev_secret"], api="send")
    flush(app)
    assert api.get(f"/v1/keys/{key['id']}").json["last_used_at"] is None


# --------------------------------------------------------------------------
# expires_before
# --------------------------------------------------------------------------


def test_expires_before_lists_keys_expiring_at_or_before(api: ApiClient) -> None:
    soon = api.create_key(permissions=["send"], expires_at="2090-01-01T00:00:00Z")
    later = api.create_key(permissions=["send"], expires_at="2095-01-01T00:00:00Z")
    never = api.create_key(permissions=["send"])

    def listed(moment: str) -> set[str]:
        items = api.get("/v1/keys", query_string={"expires_before": moment}).json
        return {k["id"] for k in items["items"]}

    assert listed("2090-01-01T00:00:00Z") == {soon["id"]}
    assert listed("2089-12-31T23:59:59Z") == set()
    assert listed("2099-01-01T00:00:00Z") == {soon["id"], later["id"]}
    assert never["id"] not in listed("2999-01-01T00:00:00Z")


def test_expires_before_must_be_a_time(api: ApiClient) -> None:
    response = api.get("/v1/keys", query_string={"expires_before": "soon"})
    assert response.status_code == 422
    assert "expires_before" in response.json["errors"]


# --------------------------------------------------------------------------
# lookup
# --------------------------------------------------------------------------


def test_lookup_of_the_current_secret(api: ApiClient) -> None:
    key = api.create_key(permissions=["send"])
    response = lookup(api, key["dev_secret"])
    assert response.status_code == 200, response.json
    assert response.json == {
        "key_id": key["id"],
        "dev_key": key["dev_key"],
        "status": "enabled",
        "secret": "current",
        "rotation": 0,
        "retired_at": None,
    }


def test_lookup_of_previous_retired_and_deleted(api: ApiClient, app: Flask) -> None:
    key = api.create_key(permissions=["send"])
    first = key["dev_secret"]
    second = api.action(key["id"], "reset-secret").json["dev_secret"]
    rolled = api.client.post(
        f"/v1/keys/{key['id']}/roll-secret",
        json={"grace_seconds": 3600},
        headers=api.headers,
    ).json
    third = rolled["dev_secret"]

    retired = lookup(api, first).json
    assert (retired["secret"], retired["rotation"]) == ("retired", 0)
    assert retired["retired_at"] is not None
    previous = lookup(api, second).json
    assert (previous["secret"], previous["rotation"]) == ("previous", 1)
    assert previous["retired_at"] == rolled["previous_secret_expires_at"]
    current = lookup(api, third).json
    assert (current["secret"], current["rotation"]) == ("current", 2)

    api.action(key["id"], "disable")
    assert lookup(api, third).json["status"] == "disabled"
    api.delete(key["id"])
    for secret, kind in ((first, "retired"), (second, "previous"), (third, "current")):
        found = lookup(api, secret).json
        assert (found["key_id"], found["status"], found["secret"]) == (
            key["id"],
            "deleted",
            kind,
        )


def test_lookup_of_a_secret_past_its_grace_is_retired(
    api: ApiClient, app: Flask
) -> None:
    key = api.create_key(permissions=["send"])
    api.client.post(
        f"/v1/keys/{key['id']}/roll-secret",
        json={"grace_seconds": 0},
        headers=api.headers,
    )
    assert lookup(api, key["dev_secret"]).json["secret"] == "retired"


def test_lookup_of_an_unknown_secret_is_404(api: ApiClient) -> None:
    api.create_key(permissions=["send"])
    response = lookup(api, "kls_" + "0" * 49)
    assert response.status_code == 404
    assert "kls_" not in response.get_data(as_text=True)


@pytest.mark.parametrize("body", [{}, {"dev_secret": 5}, {"dev_secret": None}])
def test_lookup_needs_a_secret_string(api: ApiClient, body: dict[str, Any]) -> None:
    response = api.client.post("/v1/secrets/lookup", json=body, headers=api.headers)
    assert response.status_code == 422
    assert "dev_secret" in response.json["errors"]


def test_lookup_is_admin_only(api: ApiClient, app: Flask) -> None:
    key = api.create_key(permissions=["send"])
    token = services_of(app).operators.create("audrey", "auditor")
    assert lookup(api.as_token(token), key["dev_secret"]).status_code == 403
    anonymous = api.client.post("/v1/secrets/lookup", json={"dev_secret": "x"})
    assert anonymous.status_code == 401


def test_lookup_never_logs_or_stores_the_secret(
    api: ApiClient, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    key = api.create_key(permissions=["send"])
    lookup(api, key["dev_secret"])
    assert key["dev_secret"] not in caplog.text
