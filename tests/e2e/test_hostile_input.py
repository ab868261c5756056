"""Regression tests for what outside probing found (issue 14): each hostile
input gets a 4xx naming what is wrong, on both stores, and nothing is
recorded. Black-box: only HTTP through the Flask test client."""

from __future__ import annotations

import base64
from typing import Any

from tests.support.http import ApiClient


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


def test_expiry_out_of_range_in_utc_is_422_naming_expires_at(api: ApiClient) -> None:
    key = api.create_key()
    before = event_count(api)

    for moment in (BEYOND_9999, BEFORE_YEAR_1):
        assert_refused(api.create(expires_at=moment), 422, "expires_at")
        patched = api.patch(key["id"], {"expires_at": moment})
        assert_refused(patched, 422, "expires_at")

    assert event_count(api) == before


def test_query_times_out_of_range_in_utc_are_422_naming_the_parameter(
    api: ApiClient,
) -> None:
    key = api.create_key()
    for moment in (BEYOND_9999, BEFORE_YEAR_1):
        quoted = moment.replace("+", "%2B")
        as_of = api.get(f"/v1/keys/{key['id']}?as_of={quoted}")
        assert_refused(as_of, 422, "as_of")
        assert_refused(api.get(f"/v1/audit?since={quoted}"), 422, "since")
        assert_refused(api.get(f"/v1/audit?until={quoted}"), 422, "until")


def test_the_last_second_of_year_9999_is_a_valid_expiry(api: ApiClient) -> None:
    key = api.create_key(expires_at="9999-12-31T23:59:59Z")

    assert key["expires_at"] == "9999-12-31T23:59:59Z"
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 200
    edge = api.get(f"/v1/audit?since=0001-01-01T00:00:00Z&until={key['expires_at']}")
    assert edge.status_code == 200
    assert [item["type"] for item in edge.json["items"]] == ["created"]


INVISIBLE = ["a\ud800b", "pay\u202eusd", "a\u200db", "\u2066x\u2069", "\ufeffa"]


def test_unpaired_surrogates_and_invisible_format_characters_are_refused(
    api: ApiClient,
) -> None:
    key = api.create_key(description="plain")
    before = event_count(api)

    for description in INVISIBLE:
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


MALFORMED_IF_MATCH = [
    '"\u00b2"',
    "\u00b2",
    '"1\u0663"',
    "9" * 5000,
    f'"{"1" * 4301}"',
    '"1", "2"',
]


def test_a_malformed_if_match_is_412_like_a_stale_one(api: ApiClient) -> None:
    key = api.create_key()
    before = event_count(api)

    for method, suffix, body in GUARDED:
        for if_match in MALFORMED_IF_MATCH:
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


TAMPERED_MICROS = [str(10**30), str(-(10**30)), str(2**63), "253402300800000000"]


def test_a_tampered_key_cursor_is_422_naming_after(api: ApiClient) -> None:
    key = api.create_key()
    for micros in [*TAMPERED_MICROS, "9" * 5000]:
        cursor = _cursor(f"{micros}:{key['id']}")
        assert_refused(api.get(f"/v1/keys?after={cursor}"), 422, "after")


def test_a_client_ip_with_a_zone_id_is_refused_like_a_whitelist_entry(
    api: ApiClient,
) -> None:
    key = api.create_key()
    for client_ip in ("fe80::1%eth0", "fe80::1%1", "::1%lo"):
        entry = api.create(ip_whitelist=[client_ip])
        auth = api.auth(key["dev_key"], key["dev_secret"], client_ip=client_ip)

        assert_refused(entry, 422, "ip_whitelist")
        assert auth.status_code == 422
        assert list(auth.json["errors"]) == ["client_ip"]
        assert "zone" in auth.json["errors"]["client_ip"][0]


def _spellings(key_id: str) -> dict[str, str]:
    return {
        "urn": f"urn:uuid:{key_id}",
        "braces": "{" + key_id + "}",
        "no-dashes": key_id.replace("-", ""),
        "full-width": "\uff10" + key_id[1:],
        "padded": f" {key_id}",
    }


ID_CALLS = [
    ("GET", ""),
    ("PATCH", ""),
    ("DELETE", ""),
    ("GET", "/secret"),
    ("GET", "/history"),
    ("POST", "/disable"),
    ("POST", "/enable"),
    ("POST", "/reset-secret"),
]


def test_only_the_canonical_id_spelling_names_a_key(api: ApiClient) -> None:
    key = api.create_key()
    before = event_count(api)

    answers = {
        (spelling, method, suffix): api.client.open(
            f"/v1/keys/{other}{suffix}",
            method=method,
            json={"description": "x"} if method == "PATCH" else None,
            headers=api.headers,
        ).status_code
        for spelling, other in _spellings(key["id"]).items()
        for method, suffix in ID_CALLS
    }

    assert set(answers.values()) == {404}, answers
    assert event_count(api) == before


def test_both_letter_cases_of_the_canonical_spelling_name_the_key(
    api: ApiClient,
) -> None:
    key = api.create_key()
    for spelling in (key["id"].upper(), key["id"].lower()):
        assert api.get(f"/v1/keys/{spelling}").json["id"] == key["id"]


def test_the_audit_feed_takes_only_the_canonical_key_id(api: ApiClient) -> None:
    key = api.create_key()
    for other in _spellings(key["id"]).values():
        quoted = other.replace("{", "%7B").replace("}", "%7D")
        assert_refused(api.get(f"/v1/audit?key_id={quoted}"), 422, "key_id")
    assert api.get(f"/v1/audit?key_id={key['id'].upper()}").status_code == 200


LIMITS = ["%EF%BC%95", "%D9%A5", "5_0", "%205", "+5", "9" * 5000]


def test_limit_takes_ascii_digits_only(api: ApiClient) -> None:
    for path in ("/v1/keys", "/v1/audit"):
        for limit in LIMITS:
            assert_refused(api.get(f"{path}?limit={limit}"), 422, "limit")
        assert api.get(f"{path}?limit=5").status_code == 200


GARBLED_BODIES = ["{", '{"a": ', "not json", "\xff\xfe", '{"a": 1}}']


def test_a_garbled_json_body_on_an_action_is_400_and_nothing_runs(
    api: ApiClient,
) -> None:
    key = api.create_key()
    before = event_count(api)

    for action in ("disable", "reset-secret", "enable"):
        for body in GARBLED_BODIES:
            response = api.client.post(
                f"/v1/keys/{key['id']}/{action}",
                data=body.encode("latin-1"),
                content_type="application/json",
                headers=api.headers,
            )
            assert_refused(response, 400)
            assert "JSON" in response.json["message"]

    assert event_count(api) == before
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 200
    for action in ("disable", "enable"):
        empty = api.client.post(
            f"/v1/keys/{key['id']}/{action}",
            data=b"{}",
            content_type="application/json",
            headers=api.headers,
        )
        assert empty.status_code == 200
