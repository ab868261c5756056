"""HTTP itself, as an outside client meets it: 405 with Allow on every
route, 405 before 415, chunked bodies on /v1/auth, nosniff everywhere."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient

# Every route and the methods it answers (HEAD and OPTIONS come with them).
ROUTES = {
    "/v1/keys": {"GET", "POST"},
    "/v1/keys/{id}": {"GET", "PATCH", "DELETE"},
    "/v1/keys/{id}/secret": {"GET"},
    "/v1/keys/{id}/reset-secret": {"POST"},
    "/v1/keys/{id}/disable": {"POST"},
    "/v1/keys/{id}/enable": {"POST"},
    "/v1/keys/{id}/history": {"GET"},
    "/v1/audit": {"GET"},
    "/healthz": {"GET"},
    "/openapi.json": {"GET"},
    "/docs": {"GET"},
    "/v1/auth": {"POST"},
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _cases() -> list[tuple[str, str]]:
    return [
        (route, method)
        for route, allowed in ROUTES.items()
        for method in METHODS
        if method not in allowed
    ]


@pytest.mark.parametrize(("route", "method"), _cases())
def test_a_method_a_route_does_not_answer_is_405_with_allow(
    api: ApiClient, route: str, method: str
) -> None:
    key = api.create_key()
    response = api.client.open(
        route.replace("{id}", key["id"]), method=method, headers=api.headers
    )

    assert response.status_code == 405, response.get_data(as_text=True)
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert ROUTES[route] <= allowed
    assert method not in allowed
    if route == "/v1/auth":  # the auth endpoint's own error shape
        assert response.json["allowed"] is False
    else:
        assert response.json["code"] == 405


@pytest.mark.parametrize(
    "extra",
    [{}, {"data": "x", "content_type": "text/plain"}, {"json": {"a": 1}}],
    ids=["no-body", "text-body", "json-body"],
)
def test_put_on_a_key_is_405_before_any_415(api: ApiClient, extra: Any) -> None:
    key = api.create_key()
    response = api.client.put(f"/v1/keys/{key['id']}", headers=api.headers, **extra)
    assert response.status_code == 405
    assert "PATCH" in response.headers["Allow"]
    assert api.client.put("/v1/keys", headers=api.headers, **extra).status_code == 405
