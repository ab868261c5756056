"""A 422 names every offending field at once, in the body and the query,
shape errors and the domain's rules alike; /v1/auth errors share the
management API's error body and add ``allowed: false``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.http import ApiClient, basic

ERROR_FIELDS = {"code", "status", "message", "errors"}


def _fields(response: Any) -> set[str]:
    assert response.status_code == 422, response.json
    assert set(response.json) == ERROR_FIELDS
    return set(response.json["errors"])


def test_create_names_every_broken_rule(api: ApiClient) -> None:
    response = api.create(
        description="two\nlines",
        ip_whitelist=["10.0.0.1", "nowhere"],
        permissions=["fly"],
        expires_at="31/01/2099",
    )
    assert _fields(response) == {
        "description",
        "ip_whitelist",
        "permissions",
        "expires_at",
    }


def test_shape_errors_and_rule_errors_are_reported_together(api: ApiClient) -> None:
    response = api.create(description=5, ip_whitelist=["nowhere"], permissions=[])
    assert _fields(response) == {"description", "ip_whitelist", "permissions"}


def test_an_expiry_in_the_past_is_reported_with_the_other_fields(
    api: ApiClient,
) -> None:
    response = api.create(expires_at="2001-01-01", ip_whitelist=["nowhere"])
    assert _fields(response) == {"expires_at", "ip_whitelist"}


def test_patch_names_every_broken_rule_and_changes_nothing(api: ApiClient) -> None:
    key = api.create_key(description="before")
    response = api.patch(
        key["id"],
        {"description": "ok now", "ip_whitelist": ["x"], "permissions": []},
    )
    assert _fields(response) == {"ip_whitelist", "permissions"}
    after = api.get(f"/v1/keys/{key['id']}").json
    assert (after["description"], after["version"]) == ("before", key["version"])


def test_query_parameters_are_all_named(api: ApiClient) -> None:
    response = api.get("/v1/keys?limit=0&status=lost")
    assert _fields(response) == {"limit", "status"}


def test_auth_names_both_fields_and_keeps_allowed_false(api: ApiClient) -> None:
    response = api.client.post(
        "/v1/auth",
        json={"api": "fly", "client_ip": "nowhere"},
        headers=basic("k" * 24, "s" * 43),
    )
    assert response.status_code == 422
    assert response.json["allowed"] is False
    assert set(response.json) == ERROR_FIELDS | {"allowed"}
    assert set(response.json["errors"]) == {"api", "client_ip"}


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{", "application/json", 400),
        (b"api=send", "application/x-www-form-urlencoded", 415),
    ],
)
def test_auth_errors_have_the_management_error_shape(
    api: ApiClient, body: bytes, content_type: str, status: int
) -> None:
    response = api.client.post("/v1/auth", data=body, content_type=content_type)
    assert response.status_code == status
    assert response.json["allowed"] is False
    assert response.json["code"] == status
    assert set(response.json) == (ERROR_FIELDS - {"errors"}) | {"allowed"}
