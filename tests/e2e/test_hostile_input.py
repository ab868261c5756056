"""Regression tests for what outside probing found (issue 14): each hostile
input gets a 4xx naming what is wrong, on both stores, and nothing is
recorded. Black-box: only HTTP through the Flask test client."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conftest import ApiClient


def event_count(api: ApiClient) -> int:
    """Every event recorded so far, as the audit feed tells it."""
    response = api.get("/v1/audit?format=jsonl")
    assert response.status_code == 200
    return len(response.get_data(as_text=True).splitlines())


def assert_refused(response: Any, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.json
    assert body["code"] == status
    assert isinstance(body["message"], str)
    assert body["message"]
    if field is not None:
        assert field in body["errors"], body


# A time whose offset carries it past year 9999 or before year 1 in UTC.
BEYOND_9999 = "9999-12-31T23:59:59-01:00"
BEFORE_YEAR_1 = "0001-01-01T00:30:00+01:00"


@pytest.mark.parametrize("moment", [BEYOND_9999, BEFORE_YEAR_1])
def test_expiry_out_of_range_in_utc_is_422_naming_expires_at(
    api: ApiClient, moment: str
) -> None:
    key = api.create_key()
    before = event_count(api)

    assert_refused(api.create(expires_at=moment), 422, "expires_at")
    assert_refused(api.patch(key["id"], {"expires_at": moment}), 422, "expires_at")

    assert event_count(api) == before


@pytest.mark.parametrize("moment", [BEYOND_9999, BEFORE_YEAR_1])
def test_query_times_out_of_range_in_utc_are_422_naming_the_parameter(
    api: ApiClient, moment: str
) -> None:
    key = api.create_key()
    quoted = moment.replace("+", "%2B")

    assert_refused(api.get(f"/v1/keys/{key['id']}?as_of={quoted}"), 422, "as_of")
    assert_refused(api.get(f"/v1/audit?since={quoted}"), 422, "since")
    assert_refused(api.get(f"/v1/audit?until={quoted}"), 422, "until")


def test_the_last_second_of_year_9999_is_a_valid_expiry(api: ApiClient) -> None:
    key = api.create_key(expires_at="9999-12-31T23:59:59Z")

    assert key["expires_at"] == "9999-12-31T23:59:59Z"
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 200
    edge = api.get(f"/v1/audit?since=0001-01-01T00:00:00Z&until={key['expires_at']}")
    assert edge.status_code == 200
    assert [item["type"] for item in edge.json["items"]] == ["created"]


@pytest.mark.parametrize(
    "description",
    ["a\ud800b", "pay\u202eusd", "a\u200db", "\u2066x\u2069", "\ufeffa"],
    ids=["unpaired-surrogate", "rlo", "zwj", "isolates", "bom"],
)
def test_unpaired_surrogates_and_invisible_format_characters_are_refused(
    api: ApiClient, description: str
) -> None:
    key = api.create_key(description="plain")
    before = event_count(api)

    assert_refused(api.create(description=description), 422, "description")
    patched = api.patch(key["id"], {"description": description})
    assert_refused(patched, 422, "description")

    assert event_count(api) == before
    assert api.get(f"/v1/keys/{key['id']}").json["description"] == "plain"


def test_visible_unicode_stays_welcome_in_descriptions(api: ApiClient) -> None:
    text = "Zahlungen \u2013 prod 支付 🔑 עברית"
    assert api.create_key(description=text)["description"] == text


GUARDED = [
    ("PATCH", "", {"description": "changed"}),
    ("DELETE", "", None),
    ("POST", "/disable", None),
    ("POST", "/enable", None),
    ("POST", "/reset-secret", None),
]


@pytest.mark.parametrize(("method", "suffix", "body"), GUARDED)
@pytest.mark.parametrize(
    "if_match",
    ['"\u00b2"', "\u00b2", '"1\u0663"', "9" * 5000, f'"{"1" * 4301}"', '"1", "2"'],
    ids=["superscript", "bare-superscript", "arabic-digit", "5000", "4301", "list"],
)
def test_a_malformed_if_match_is_412_like_a_stale_one(
    api: ApiClient, method: str, suffix: str, body: Any, if_match: str
) -> None:
    key = api.create_key()
    before = event_count(api)

    response = api.client.open(
        f"/v1/keys/{key['id']}{suffix}",
        method=method,
        json=body,
        headers={**api.headers, "If-Match": if_match},
    )

    assert_refused(response, 412)
    assert response.headers["ETag"] == f'"{key["version"]}"'
    assert event_count(api) == before


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "micros",
    [str(10**30), str(-(10**30)), str(2**63), "253402300800000000", "9" * 5000],
    ids=["huge", "huge-negative", "int64", "year-10000", "5000-digits"],
)
def test_a_tampered_key_cursor_is_422_naming_after(api: ApiClient, micros: str) -> None:
    key = api.create_key()
    cursor = _cursor(f"{micros}:{key['id']}")
    response = api.get(f"/v1/keys?after={cursor}")
    assert_refused(response, 422, "after")


@pytest.mark.parametrize("client_ip", ["fe80::1%eth0", "fe80::1%1", "::1%lo"])
def test_a_client_ip_with_a_zone_id_is_refused_like_a_whitelist_entry(
    api: ApiClient, client_ip: str
) -> None:
    key = api.create_key()

    entry = api.create(ip_whitelist=[client_ip])
    auth = api.auth(key["dev_key"], key["dev_secret"], client_ip=client_ip)

    assert_refused(entry, 422, "ip_whitelist")
    assert auth.status_code == 422
    assert list(auth.json["errors"]) == ["client_ip"]
    assert "zone" in auth.json["errors"]["client_ip"][0]
